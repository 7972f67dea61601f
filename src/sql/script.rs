//! Splitting a script into statements: standard SQL goes to sqlparser, and the
//! cube statements sqlparser does not know are parsed here with its parser's
//! building blocks:
//!
//! ```text
//! CREATE CUBE c ON <from clause> DIMENSIONS (expr, ...) MEASURES (agg(expr), ...) [BUDGET n]
//! REFRESH CUBE c
//! DROP CUBE [IF EXISTS] c
//! ```

use sqlparser::ast::{self, Statement};
use sqlparser::dialect::DuckDbDialect;
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::Token;

use super::{object_name, parse_error};
use crate::error::Result;

/// One statement of a script.
#[derive(Debug, Clone)]
pub enum Parsed {
    Sql(Box<Statement>),
    CreateCube(CubeDefinition),
    RefreshCube(String),
    DropCube { name: String, if_exists: bool },
}

/// `CREATE CUBE`, as SQL fragments.
#[derive(Debug, Clone, PartialEq)]
pub struct CubeDefinition {
    pub name: String,
    /// The FROM clause (a table, or tables with joins).
    pub from: String,
    pub dimensions: Vec<String>,
    pub measures: Vec<ast::Expr>,
    /// The most rows the cuboids besides the base one may hold in all.
    pub budget: Option<u64>,
}

/// Parses a script of `;`-separated statements.
pub fn parse_script(sql: &str) -> Result<Vec<Parsed>> {
    let dialect = DuckDbDialect {};
    let mut parser = Parser::new(&dialect).with_tokens_with_locations(super::tokenize(sql)?);
    let mut statements = vec![];
    loop {
        while parser.consume_token(&Token::SemiColon) {}
        if parser.peek_token().token == Token::EOF {
            break;
        }
        let statement = parse_one(&mut parser).map_err(parse_error)?;
        statements.push(statement);
        if !parser.consume_token(&Token::SemiColon) && parser.peek_token().token != Token::EOF {
            return Err(parse_error(ParserError::ParserError(format!(
                "Expected: end of statement, found: {}",
                parser.peek_token()
            ))));
        }
    }
    Ok(statements)
}

fn parse_one(parser: &mut Parser) -> Result<Parsed, ParserError> {
    let is_cube = |n: usize, keyword: Keyword| matches!(&parser.peek_nth_token(n).token, Token::Word(w) if w.keyword == keyword);
    if is_cube(0, Keyword::CREATE) && is_cube(1, Keyword::CUBE) {
        parser.next_token();
        parser.next_token();
        return create_cube(parser).map(Parsed::CreateCube);
    }
    if is_cube(0, Keyword::REFRESH) && is_cube(1, Keyword::CUBE) {
        parser.next_token();
        parser.next_token();
        return Ok(Parsed::RefreshCube(object_name(
            &parser.parse_object_name(false)?,
        )));
    }
    if is_cube(0, Keyword::DROP) && is_cube(1, Keyword::CUBE) {
        parser.next_token();
        parser.next_token();
        let if_exists = parser.parse_keywords(&[Keyword::IF, Keyword::EXISTS]);
        let name = object_name(&parser.parse_object_name(false)?);
        return Ok(Parsed::DropCube { name, if_exists });
    }
    Ok(Parsed::Sql(Box::new(parser.parse_statement()?)))
}

fn create_cube(parser: &mut Parser) -> Result<CubeDefinition, ParserError> {
    let name = object_name(&parser.parse_object_name(false)?);
    parser.expect_keyword_is(Keyword::ON)?;
    // The FROM clause runs to the DIMENSIONS keyword (which sqlparser would
    // otherwise take for a table alias); it is parsed on its own.
    let mut tokens = vec![];
    let mut depth = 0i32;
    loop {
        let token = parser.next_token().token;
        match &token {
            Token::Word(w) if w.keyword == Keyword::DIMENSIONS && depth == 0 => break,
            Token::EOF => {
                return Err(ParserError::ParserError(
                    "Expected: DIMENSIONS (...) after CREATE CUBE ... ON".into(),
                ))
            }
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            _ => {}
        }
        tokens.push(token.to_string());
    }
    let dialect = DuckDbDialect {};
    let from = Parser::new(&dialect)
        .try_with_sql(&tokens.join(" "))?
        .parse_table_and_joins()?
        .to_string();
    let dimensions = parenthesized_exprs(parser)?
        .iter()
        .map(|e| e.to_string())
        .collect();
    parser.expect_keyword_is(Keyword::MEASURES)?;
    let measures = parenthesized_exprs(parser)?;
    let budget = match &parser.peek_token().token {
        Token::Word(w) if w.value.eq_ignore_ascii_case("budget") => {
            parser.next_token();
            Some(parser.parse_literal_uint()?)
        }
        _ => None,
    };
    Ok(CubeDefinition {
        name,
        from,
        dimensions,
        measures,
        budget,
    })
}

fn parenthesized_exprs(parser: &mut Parser) -> Result<Vec<ast::Expr>, ParserError> {
    parser.expect_token(&Token::LParen)?;
    let exprs = parser.parse_comma_separated(Parser::parse_expr)?;
    parser.expect_token(&Token::RParen)?;
    Ok(exprs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cube_statements_parse_among_sql() {
        let script = "SELECT 1; CREATE CUBE c ON a JOIN b ON a.x = b.x \
                      DIMENSIONS (a.k, EXTRACT(YEAR FROM b.d)) MEASURES (SUM(b.v), COUNT(*)) BUDGET 1000; \
                      REFRESH CUBE c; DROP CUBE IF EXISTS c";
        let parsed = parse_script(script).unwrap();
        assert_eq!(parsed.len(), 4);
        let Parsed::CreateCube(cube) = &parsed[1] else {
            panic!("{parsed:?}")
        };
        assert_eq!(cube.name, "c");
        assert_eq!(cube.from, "a JOIN b ON a.x = b.x");
        assert_eq!(cube.dimensions, vec!["a.k", "EXTRACT(YEAR FROM b.d)"]);
        assert_eq!(cube.measures.len(), 2);
        assert_eq!(cube.budget, Some(1000));
        assert!(matches!(&parsed[2], Parsed::RefreshCube(n) if n == "c"));
        assert!(matches!(
            &parsed[3],
            Parsed::DropCube {
                if_exists: true,
                ..
            }
        ));
        assert!(parse_script("CREATE CUBE c ON t DIMENSIONS (a)").is_err());
    }
}
