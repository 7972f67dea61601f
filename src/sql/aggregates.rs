//! Binding aggregate calls: which names are aggregates (with DuckDB's
//! synonyms), how many arguments each takes, what they are cast to and what
//! type the result is (`SUM` of integers is a BIGINT, of a DECIMAL(p,s) a
//! DECIMAL(38,s); `AVG` and the statistics are DOUBLE; `median` of a DECIMAL is
//! that DECIMAL, of a DATE a TIMESTAMP; `quantile_disc`, `mode` and `arg_min`
//! keep their argument's type).

use arrow::datatypes::DataType;

use super::coerce::is_numeric;
use super::expr::cast;
use crate::error::Result;
use crate::plan::{AggExpr, AggFunc, Expr, SortKey};
use crate::types::{type_name, ScalarValue, TIMESTAMP};
use crate::{bind_err, unsupported};

/// The aggregate a function name stands for, if it is one. `median`,
/// `quantile` and the `percentile_*` forms are quantiles with a fraction.
pub fn aggregate_function(name: &str) -> Option<AggFunc> {
    Some(match name {
        "count" => AggFunc::Count,
        "sum" => AggFunc::Sum,
        "avg" | "mean" => AggFunc::Avg,
        "min" => AggFunc::Min,
        "max" => AggFunc::Max,
        "stddev" | "stddev_samp" => AggFunc::StddevSamp,
        "stddev_pop" => AggFunc::StddevPop,
        "variance" | "var_samp" => AggFunc::VarSamp,
        "var_pop" => AggFunc::VarPop,
        "covar_samp" => AggFunc::CovarSamp,
        "covar_pop" => AggFunc::CovarPop,
        "corr" => AggFunc::Corr,
        "median" | "quantile_cont" | "percentile_cont" => AggFunc::QuantileCont,
        "quantile" | "quantile_disc" | "percentile_disc" => AggFunc::QuantileDisc,
        "mode" => AggFunc::Mode,
        "arg_min" | "argmin" | "min_by" => AggFunc::ArgMin,
        "arg_max" | "argmax" | "max_by" => AggFunc::ArgMax,
        "approx_count_distinct" => AggFunc::ApproxCountDistinct,
        "string_agg" | "group_concat" | "listagg" => AggFunc::StringAgg,
        "bool_and" => AggFunc::BoolAnd,
        "bool_or" => AggFunc::BoolOr,
        _ => return None,
    })
}

/// A bound call of aggregate `name` (`func`, from [`aggregate_function`]).
/// `args` are the call's arguments (none for `COUNT(*)`); `within_group` the
/// keys of `WITHIN GROUP (ORDER BY ...)`, `order_by` those of an ORDER BY
/// among the arguments.
pub fn bind_aggregate(
    name: &str,
    func: AggFunc,
    mut args: Vec<Expr>,
    distinct: bool,
    order_by: Vec<SortKey>,
    within_group: Vec<SortKey>,
    filter: Option<Expr>,
) -> Result<AggExpr> {
    let arity = |n: std::ops::RangeInclusive<usize>, args: &[Expr]| -> Result<()> {
        if n.contains(&args.len()) {
            Ok(())
        } else {
            bind_err!("{name} does not take {} arguments", args.len())
        }
    };
    if !within_group.is_empty() && !name.starts_with("percentile") {
        return bind_err!("WITHIN GROUP is only allowed with percentile_cont and percentile_disc");
    }
    if !order_by.is_empty() && func != AggFunc::StringAgg {
        return unsupported!("ORDER BY inside {name}");
    }
    let numeric = |e: &Expr| -> Result<()> {
        let t = e.data_type();
        if is_numeric(&t) || t == DataType::Null {
            Ok(())
        } else {
            bind_err!("{name} of {} is not defined: {name}({e})", type_name(&t))
        }
    };
    let double = |e: Expr| -> Result<Expr> {
        numeric(&e)?;
        cast(e, &DataType::Float64)
    };
    let mut agg = AggExpr::new(func, None, DataType::Int64);
    agg.distinct = distinct && !matches!(func, AggFunc::Min | AggFunc::Max);
    agg.filter = filter;
    match func {
        AggFunc::Count if args.is_empty() => agg.func = AggFunc::CountStar,
        AggFunc::Count | AggFunc::ApproxCountDistinct => {
            arity(1..=1, &args)?;
            agg.arg = args.pop();
        }
        AggFunc::Sum | AggFunc::Avg | AggFunc::Min | AggFunc::Max => {
            arity(1..=1, &args)?;
            let a = args.remove(0);
            let t = a.data_type();
            let (result, a) = match func {
                AggFunc::Sum => match &t {
                    DataType::Int32 | DataType::Int64 => {
                        (DataType::Int64, cast(a, &DataType::Int64)?)
                    }
                    DataType::Decimal128(_, s) => (DataType::Decimal128(38, *s), a),
                    DataType::Float64 => (DataType::Float64, a),
                    DataType::Null => (DataType::Float64, cast(a, &DataType::Float64)?),
                    _ => return bind_err!("SUM of {} is not defined: sum({a})", type_name(&t)),
                },
                AggFunc::Avg => {
                    numeric(&a)?;
                    let a = if t == DataType::Null {
                        cast(a, &DataType::Float64)?
                    } else {
                        a
                    };
                    (DataType::Float64, a)
                }
                _ => match &t {
                    DataType::Null => (DataType::Int32, cast(a, &DataType::Int32)?),
                    _ => (t.clone(), a),
                },
            };
            agg.arg = Some(a);
            agg.data_type = result;
        }
        AggFunc::StddevSamp | AggFunc::StddevPop | AggFunc::VarSamp | AggFunc::VarPop => {
            arity(1..=1, &args)?;
            agg.arg = Some(double(args.remove(0))?);
            agg.data_type = DataType::Float64;
        }
        AggFunc::CovarSamp | AggFunc::CovarPop | AggFunc::Corr => {
            arity(2..=2, &args)?;
            agg.arg = Some(double(args.remove(0))?);
            agg.arg2 = Some(double(args.remove(0))?);
            agg.data_type = DataType::Float64;
        }
        AggFunc::QuantileCont | AggFunc::QuantileDisc => {
            let (value, fraction, ascending) = if name.starts_with("percentile") {
                // percentile_cont(q) WITHIN GROUP (ORDER BY x [DESC]).
                arity(1..=1, &args)?;
                let [key] = <[SortKey; 1]>::try_from(within_group).map_err(|_| {
                    crate::Error::Bind(format!(
                        "{name} needs WITHIN GROUP (ORDER BY one expression)"
                    ))
                })?;
                (key.expr, args.remove(0), key.ascending)
            } else if name == "median" {
                arity(1..=1, &args)?;
                let half = Expr::Literal(ScalarValue::Float64(Some(0.5)));
                (args.remove(0), half, true)
            } else {
                arity(2..=2, &args)?;
                let fraction = args.remove(1);
                (args.remove(0), fraction, true)
            };
            let q = match cast(fraction, &DataType::Float64)? {
                Expr::Literal(ScalarValue::Float64(Some(q))) if (0.0..=1.0).contains(&q) => q,
                other => {
                    return bind_err!(
                        "{name}: the fraction must be a constant between 0 and 1, not {other}"
                    )
                }
            };
            let t = value.data_type();
            agg.data_type = match (func, &t) {
                (_, DataType::Utf8 | DataType::Boolean) if func == AggFunc::QuantileCont => {
                    return bind_err!("{name} of {} is not defined", type_name(&t))
                }
                (AggFunc::QuantileCont, DataType::Int32 | DataType::Int64 | DataType::Null) => {
                    DataType::Float64
                }
                (AggFunc::QuantileCont, DataType::Date32) => TIMESTAMP,
                (_, DataType::Null) => DataType::Int32,
                _ => t.clone(),
            };
            let value = if t == DataType::Null {
                cast(value, &DataType::Int32)?
            } else {
                value
            };
            agg.order_by = vec![SortKey {
                expr: value.clone(),
                ascending,
                nulls_first: false,
            }];
            agg.arg = Some(value);
            agg.arg2 = Some(Expr::Literal(ScalarValue::Float64(Some(q))));
        }
        AggFunc::Mode => {
            arity(1..=1, &args)?;
            let a = args.remove(0);
            agg.data_type = a.data_type();
            agg.arg = Some(a);
        }
        AggFunc::ArgMin | AggFunc::ArgMax => {
            arity(2..=2, &args)?;
            let (a, v) = (args.remove(0), args.remove(0));
            agg.data_type = a.data_type();
            agg.arg = Some(a);
            agg.arg2 = Some(v);
        }
        AggFunc::StringAgg => {
            arity(1..=2, &args)?;
            let s = cast(args.remove(0), &DataType::Utf8)?;
            let separator = match args.pop() {
                None => Expr::Literal(ScalarValue::Utf8(Some(",".into()))),
                Some(e) => match cast(e, &DataType::Utf8)? {
                    lit @ Expr::Literal(_) => lit,
                    other => {
                        return bind_err!("{name}'s separator must be a constant, not {other}")
                    }
                },
            };
            agg.arg = Some(s);
            agg.arg2 = Some(separator);
            agg.order_by = order_by;
            agg.data_type = DataType::Utf8;
        }
        AggFunc::BoolAnd | AggFunc::BoolOr => {
            arity(1..=1, &args)?;
            let a = args.remove(0);
            match a.data_type() {
                DataType::Boolean => agg.arg = Some(a),
                DataType::Null => agg.arg = Some(cast(a, &DataType::Boolean)?),
                other => {
                    return bind_err!(
                        "{name} of {} is not defined: {name}({a})",
                        type_name(&other)
                    )
                }
            }
            agg.data_type = DataType::Boolean;
        }
        AggFunc::CountStar => unreachable!("COUNT(*) is bound as count"),
    }
    Ok(agg)
}
