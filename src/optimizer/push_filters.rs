//! Predicate pushdown: a filter's conjuncts move below projections (with the
//! projected expressions substituted in) and into the table scan under them. A
//! scan applies its filters to each segment it reads, after checking them against
//! the segment's zone maps.

use crate::plan::{Expr, LogicalPlan};

pub fn push_filters(plan: LogicalPlan) -> LogicalPlan {
    match plan {
        LogicalPlan::Filter { input, predicate } => {
            let input = push_filters(*input);
            push_into(input, predicate.split_conjunction())
        }
        other => super::map_inputs(other, &mut push_filters),
    }
}

/// Places `predicates` (over `plan`'s output) as deep as they can go.
fn push_into(plan: LogicalPlan, predicates: Vec<Expr>) -> LogicalPlan {
    if predicates.is_empty() {
        return plan;
    }
    match plan {
        LogicalPlan::Scan {
            table,
            projection,
            mut filters,
            schema,
        } => {
            filters.extend(predicates);
            LogicalPlan::Scan {
                table,
                projection,
                filters,
                schema,
            }
        }
        LogicalPlan::Filter { input, predicate } => {
            let mut all = predicate.split_conjunction();
            all.extend(predicates);
            push_into(*input, all)
        }
        LogicalPlan::Project {
            input,
            exprs,
            schema,
        } => {
            let substituted = predicates
                .into_iter()
                .map(|p| {
                    p.transform_up(&mut |e| match e {
                        Expr::Column { index, .. } => exprs[index].clone(),
                        other => other,
                    })
                })
                .collect();
            LogicalPlan::Project {
                input: Box::new(push_into(*input, substituted)),
                exprs,
                schema,
            }
        }
        other => LogicalPlan::Filter {
            input: Box::new(other),
            predicate: Expr::conjunction(predicates).expect("not empty"),
        },
    }
}
