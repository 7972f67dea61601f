//! Random queries, in the spirit of SQLsmith: a seeded generator writes SELECTs
//! from a grammar of the SQL the engine takes (joins, subqueries of every form,
//! aggregates, windows, set operations, CASE, casts, functions, NULLs) over tables
//! with NULLs in every column, and each runs on one database. A query may be
//! refused (the generator also writes type errors), but none may panic ("internal
//! error"), crash, or give a multi-line error.
//!
//! `OLAP_RANDOM_QUERIES=n` runs n queries instead of the default (and
//! `OLAP_RANDOM_SEED=s` starts from another seed).

use olap::Database;

/// A xorshift generator: the same seed, the same queries.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Type {
    Int,
    Num,
    Text,
    Date,
    Bool,
}

/// The columns of the tables, by type (`t1` and `t2` have the same ones).
fn columns(t: Type) -> &'static [&'static str] {
    match t {
        Type::Int => &["i", "b"],
        Type::Num => &["d", "f"],
        Type::Text => &["s"],
        Type::Date => &["dt"],
        Type::Bool => &["bo"],
    }
}

struct Gen {
    rng: Rng,
    /// The aliases of the relations in scope (innermost query last).
    scopes: Vec<Vec<String>>,
    depth: usize,
}

impl Gen {
    fn column(&mut self, t: Type) -> String {
        let scope = self.scopes.len() - 1;
        // Now and then a column of an enclosing query: a correlated subquery.
        let level = if scope > 0 && self.rng.chance(25) {
            self.rng.below(scope)
        } else {
            scope
        };
        let aliases = &self.scopes[level];
        let alias = aliases[self.rng.below(aliases.len())].clone();
        let names = columns(t);
        format!("{alias}.{}", names[self.rng.below(names.len())])
    }

    fn literal(&mut self, t: Type) -> String {
        if self.rng.chance(8) {
            return "NULL".into();
        }
        match t {
            Type::Int => self
                .rng
                .pick(&[
                    "0",
                    "1",
                    "-1",
                    "7",
                    "42",
                    "2147483647",
                    "-9223372036854775808",
                ])
                .into(),
            Type::Num => self.rng.pick(&["0.5", "-1.25", "3.0", "1e3", "0.0"]).into(),
            Type::Text => self
                .rng
                .pick(&["'a'", "''", "'abc'", "'x%'", "'NULL'"])
                .into(),
            Type::Date => self
                .rng
                .pick(&[
                    "DATE '2024-01-01'",
                    "DATE '1999-12-31'",
                    "DATE '2024-02-29'",
                ])
                .into(),
            Type::Bool => self.rng.pick(&["TRUE", "FALSE"]).into(),
        }
    }

    fn any_type(&mut self) -> Type {
        [Type::Int, Type::Num, Type::Text, Type::Date, Type::Bool][self.rng.below(5)]
    }

    /// An expression of type `t` (mostly: now and then one of another type, which
    /// the binder must refuse cleanly).
    fn expr(&mut self, t: Type) -> String {
        let t = if self.rng.chance(1) {
            self.any_type()
        } else {
            t
        };
        self.depth += 1;
        let leaf = self.depth > 4 || self.rng.chance(35);
        let e = if leaf {
            if self.rng.chance(70) {
                self.column(t)
            } else {
                self.literal(t)
            }
        } else {
            match t {
                Type::Int => self.int_expr(),
                Type::Num => self.num_expr(),
                Type::Text => self.text_expr(),
                Type::Date => self.date_expr(),
                Type::Bool => self.predicate(),
            }
        };
        self.depth -= 1;
        e
    }

    fn int_expr(&mut self) -> String {
        match self.rng.below(9) {
            0 => {
                let op = self.rng.pick(&["+", "-", "*", "//", "%"]);
                format!("({} {op} {})", self.expr(Type::Int), self.expr(Type::Int))
            }
            1 => format!("abs({})", self.expr(Type::Int)),
            2 => format!("length({})", self.expr(Type::Text)),
            3 => format!("CAST({} AS INTEGER)", self.expr(Type::Num)),
            4 => format!(
                "coalesce({}, {})",
                self.expr(Type::Int),
                self.expr(Type::Int)
            ),
            5 => format!(
                "CASE WHEN {} THEN {} ELSE {} END",
                self.predicate(),
                self.expr(Type::Int),
                self.expr(Type::Int)
            ),
            6 => format!("EXTRACT(YEAR FROM {})", self.expr(Type::Date)),
            7 => {
                let from = self.subquery_from();
                let p = self.predicate();
                self.scopes.pop();
                format!("(SELECT COUNT(*) FROM {from} WHERE {p})")
            }
            _ => format!(
                "greatest({}, {})",
                self.expr(Type::Int),
                self.expr(Type::Int)
            ),
        }
    }

    fn num_expr(&mut self) -> String {
        match self.rng.below(7) {
            0 => {
                let op = self.rng.pick(&["+", "-", "*", "/"]);
                format!("({} {op} {})", self.expr(Type::Num), self.expr(Type::Num))
            }
            1 => format!("round({}, {})", self.expr(Type::Num), self.rng.below(4)),
            2 => format!("CAST({} AS DOUBLE)", self.expr(Type::Int)),
            3 => format!("nullif({}, {})", self.expr(Type::Num), self.expr(Type::Num)),
            4 => format!("TRY_CAST({} AS DECIMAL(10,2))", self.expr(Type::Text)),
            5 => format!("sqrt(abs({}))", self.expr(Type::Num)),
            _ => format!("({} * 1.5)", self.expr(Type::Int)),
        }
    }

    fn text_expr(&mut self) -> String {
        match self.rng.below(7) {
            0 => format!("({} || {})", self.expr(Type::Text), self.expr(Type::Text)),
            1 => format!("upper({})", self.expr(Type::Text)),
            2 => format!(
                "substring({}, {}, {})",
                self.expr(Type::Text),
                self.expr(Type::Int),
                self.expr(Type::Int)
            ),
            3 => {
                let t = self.any_type();
                format!("CAST({} AS VARCHAR)", self.expr(t))
            }
            4 => format!("replace({}, 'a', 'b')", self.expr(Type::Text)),
            5 => format!("lpad({}, 5, '*')", self.expr(Type::Text)),
            _ => format!("coalesce({}, 'none')", self.expr(Type::Text)),
        }
    }

    fn date_expr(&mut self) -> String {
        match self.rng.below(4) {
            0 => format!("({} + {})", self.expr(Type::Date), self.expr(Type::Int)),
            1 => format!("date_trunc('month', {})", self.expr(Type::Date)),
            2 => format!("CAST(CAST({} AS VARCHAR) AS DATE)", self.expr(Type::Date)),
            _ => format!("({} - INTERVAL 1 DAY)", self.expr(Type::Date)),
        }
    }

    fn predicate(&mut self) -> String {
        self.depth += 1;
        let p = match self.rng.below(12) {
            0 | 1 => {
                let t = self.any_type();
                let op = self.rng.pick(&["=", "<>", "<", "<=", ">", ">="]);
                format!("{} {op} {}", self.expr(t), self.expr(t))
            }
            2 => format!("({} AND {})", self.predicate(), self.predicate()),
            3 => format!("({} OR {})", self.predicate(), self.predicate()),
            4 => format!("NOT ({})", self.predicate()),
            5 => {
                let t = self.any_type();
                let not = self.rng.pick(&["", "NOT "]);
                format!("{} IS {not}NULL", self.expr(t))
            }
            6 => format!(
                "{} BETWEEN {} AND {}",
                self.expr(Type::Int),
                self.expr(Type::Int),
                self.expr(Type::Int)
            ),
            7 => format!(
                "{} LIKE {}",
                self.expr(Type::Text),
                self.literal(Type::Text)
            ),
            8 => {
                let not = self.rng.pick(&["", "NOT "]);
                format!(
                    "{not}EXISTS (SELECT 1 FROM {} WHERE {})",
                    self.subquery_from(),
                    {
                        let p = self.predicate();
                        self.scopes.pop();
                        p
                    }
                )
            }
            9 => {
                let not = self.rng.pick(&["", "NOT "]);
                let e = self.expr(Type::Int);
                let from = self.subquery_from();
                let item = self.column(Type::Int);
                self.scopes.pop();
                format!("{e} {not}IN (SELECT {item} FROM {from})")
            }
            10 => {
                let e = self.expr(Type::Int);
                let q = self.rng.pick(&["ANY", "ALL"]);
                let op = self.rng.pick(&["=", "<", ">="]);
                let from = self.subquery_from();
                let item = self.column(Type::Int);
                self.scopes.pop();
                format!("{e} {op} {q} (SELECT {item} FROM {from})")
            }
            _ => format!(
                "{} IN ({}, {}, {})",
                self.expr(Type::Int),
                self.literal(Type::Int),
                self.literal(Type::Int),
                self.literal(Type::Int)
            ),
        };
        self.depth -= 1;
        p
    }

    /// A subquery's FROM of one table, its alias pushed as a new scope (which
    /// the caller pops).
    fn subquery_from(&mut self) -> String {
        let alias = format!("q{}", self.scopes.len());
        let table = self.rng.pick(&["t1", "t2"]);
        self.scopes.push(vec![alias.clone()]);
        format!("{table} {alias}")
    }

    fn outer_from(&mut self) -> String {
        let mut aliases = vec!["a".to_string()];
        let mut from = format!("{} a", self.rng.pick(&["t1", "t2"]));
        if self.rng.chance(50) {
            aliases.push("c".into());
            let table = self.rng.pick(&["t1", "t2"]);
            from = match self.rng.below(4) {
                0 => format!("{from} JOIN {table} c ON a.i = c.i"),
                1 => format!("{from} LEFT JOIN {table} c ON a.i = c.b AND c.s IS NOT NULL"),
                2 => format!("{from}, {table} c"),
                _ => format!("{from} FULL JOIN {table} c ON a.s = c.s"),
            };
        }
        self.scopes.push(aliases);
        from
    }

    fn aggregate(&mut self) -> String {
        let t = [Type::Int, Type::Num, Type::Text][self.rng.below(3)];
        let arg = self.expr(t);
        match self.rng.below(8) {
            0 => "COUNT(*)".into(),
            1 => format!("COUNT(DISTINCT {arg})"),
            2 => format!("SUM({arg})"),
            3 => format!("AVG({arg})"),
            4 => format!("MIN({arg})"),
            5 => format!("MAX({arg})"),
            6 => format!("string_agg(CAST({arg} AS VARCHAR), ',')"),
            _ => format!("COUNT({arg}) FILTER (WHERE {})", self.predicate()),
        }
    }

    fn window(&mut self) -> String {
        let order = self.column(Type::Int);
        let partition = self.column(Type::Text);
        let func = match self.rng.below(6) {
            0 => "row_number()".to_string(),
            1 => "rank()".to_string(),
            2 => format!("lag({order})"),
            3 => format!("SUM({order})"),
            4 => format!("first_value({order})"),
            _ => "dense_rank()".to_string(),
        };
        let frame = if self.rng.chance(30) {
            " ROWS BETWEEN 1 PRECEDING AND CURRENT ROW"
        } else {
            ""
        };
        format!("{func} OVER (PARTITION BY {partition} ORDER BY {order}{frame})")
    }

    /// A SELECT of `width` items (any number if None).
    fn select(&mut self, width: Option<usize>) -> String {
        let from = self.outer_from();
        let grouped = self.rng.chance(35);
        let mut items = vec![];
        let mut group_keys = vec![];
        if grouped {
            for _ in 0..1 + self.rng.below(2) {
                let t = self.any_type();
                group_keys.push(self.column(t));
            }
            items.extend(group_keys.iter().cloned());
            for _ in 0..1 + self.rng.below(3) {
                items.push(self.aggregate());
            }
            if let Some(width) = width {
                items.resize_with(width, || "COUNT(*)".to_string());
            }
        } else {
            for _ in 0..width.unwrap_or(1 + self.rng.below(4)) {
                let item = if self.rng.chance(15) {
                    self.window()
                } else {
                    let t = self.any_type();
                    self.expr(t)
                };
                items.push(item);
            }
        }
        let items: Vec<String> = items
            .into_iter()
            .enumerate()
            .map(|(k, e)| format!("{e} AS x{k}"))
            .collect();
        let distinct = if self.rng.chance(10) { "DISTINCT " } else { "" };
        let mut sql = format!("SELECT {distinct}{} FROM {from}", items.join(", "));
        if self.rng.chance(60) {
            sql += &format!(" WHERE {}", self.predicate());
        }
        if grouped {
            sql += &format!(" GROUP BY {}", group_keys.join(", "));
            if self.rng.chance(30) {
                sql += &format!(" HAVING COUNT(*) > {}", self.rng.below(3));
            }
        }
        if self.rng.chance(40) {
            let keys: Vec<String> = (0..items.len()).map(|k| format!("x{k}")).collect();
            sql += &format!(" ORDER BY {}", keys.join(", "));
        }
        if self.rng.chance(30) {
            sql += &format!(" LIMIT {}", self.rng.below(10));
        }
        self.scopes.pop();
        sql
    }

    fn query(&mut self) -> String {
        let first = self.select(None);
        if !self.rng.chance(15) {
            return first;
        }
        let width = first.matches(" AS x").count();
        let op = self
            .rng
            .pick(&["UNION", "UNION ALL", "INTERSECT", "EXCEPT", "EXCEPT ALL"]);
        let second = self.select(Some(width));
        format!("({first}) {op} ({second})")
    }
}

#[test]
fn random_queries_never_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Database::open(tmp.path()).unwrap();
    db.execute(
        "CREATE TABLE t1 (i INTEGER, b BIGINT, d DECIMAL(10,2), f DOUBLE, s VARCHAR, dt DATE, bo BOOLEAN);
         CREATE TABLE t2 (i INTEGER, b BIGINT, d DECIMAL(10,2), f DOUBLE, s VARCHAR, dt DATE, bo BOOLEAN);
         INSERT INTO t1 VALUES
           (1, 10, 1.50, 0.5, 'a', DATE '2024-01-01', TRUE),
           (2, NULL, -2.25, NULL, 'abc', DATE '2024-02-29', FALSE),
           (NULL, 7, NULL, 3.5, NULL, NULL, NULL),
           (3, 7, 0.00, -1.0, '', DATE '1999-12-31', TRUE),
           (2147483647, 9223372036854775807, 99999999.99, 1e300, 'x%', DATE '2024-01-31', FALSE);
         INSERT INTO t2 SELECT * FROM t1 WHERE i <> 3;
         INSERT INTO t2 VALUES (4, 1, 4.00, 4.0, 'abc', DATE '2024-03-01', NULL), (NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
    )
    .unwrap();
    let count: usize = std::env::var("OLAP_RANDOM_QUERIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let seed: u64 = std::env::var("OLAP_RANDOM_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x9e3779b97f4a7c15);
    let mut generator = Gen {
        rng: Rng(seed | 1),
        scopes: vec![],
        depth: 0,
    };
    let verbose = std::env::var("OLAP_RANDOM_VERBOSE").is_ok();
    let (mut answered, mut refused) = (0, 0);
    for _ in 0..count {
        let sql = generator.query();
        let started = std::time::Instant::now();
        let result = db.query(&sql);
        if verbose && started.elapsed().as_millis() > 50 {
            eprintln!("SLOW {} ms: {sql}", started.elapsed().as_millis());
        }
        match result {
            Ok(_) => answered += 1,
            Err(e) => {
                let msg = e.to_string();
                assert!(!msg.contains("internal error"), "{sql}\n{msg}");
                assert!(!msg.contains('\n'), "{sql}\n{msg}");
                refused += 1;
                if verbose {
                    eprintln!("REFUSED {msg}\n  {sql}");
                }
            }
        }
    }
    eprintln!("{count} random queries: {answered} answered, {refused} refused");
    // The generator writes mostly valid SQL: it would test little otherwise.
    assert!(answered * 2 > count, "{answered} of {count} answered");
}
