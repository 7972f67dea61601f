//! `bool_and` / `bool_or`: whether every (some) non-NULL value of a group is
//! true; NULL for a group without one.

use std::any::Any;
use std::sync::Arc;

use arrow::array::*;

use crate::error::{Error, Result};
use crate::exec::aggregate::{downcast, Accumulator};

pub struct BoolAcc {
    /// bool_and (else bool_or).
    all: bool,
    groups: Vec<Option<bool>>,
}

impl BoolAcc {
    pub fn new(all: bool) -> BoolAcc {
        BoolAcc {
            all,
            groups: vec![],
        }
    }

    fn offer(&mut self, g: usize, v: bool) {
        let state = &mut self.groups[g];
        *state = Some(match *state {
            None => v,
            Some(s) if self.all => s && v,
            Some(s) => s || v,
        });
    }
}

impl Accumulator for BoolAcc {
    fn update(&mut self, values: &[ArrayRef], groups: &[u32], num_groups: usize) -> Result<()> {
        self.groups.resize(num_groups, None);
        let values = values
            .first()
            .and_then(|v| v.as_boolean_opt())
            .ok_or_else(|| Error::Execute("internal error: bool_and of non-BOOLEAN".into()))?;
        for (row, &g) in groups.iter().enumerate() {
            if values.is_valid(row) {
                self.offer(g as usize, values.value(row));
            }
        }
        Ok(())
    }

    fn merge(
        &mut self,
        other: &dyn Accumulator,
        from: &[u32],
        into: &[u32],
        num_groups: usize,
    ) -> Result<()> {
        let other = downcast::<BoolAcc>(other)?;
        self.groups.resize(num_groups, None);
        for (&f, &i) in from.iter().zip(into) {
            if let Some(Some(v)) = other.groups.get(f as usize) {
                self.offer(i as usize, *v);
            }
        }
        Ok(())
    }

    fn finish(&mut self, num_groups: usize) -> Result<ArrayRef> {
        self.groups.resize(num_groups, None);
        Ok(Arc::new(BooleanArray::from(std::mem::take(
            &mut self.groups,
        ))))
    }

    fn memory_size(&self) -> usize {
        super::vec_size(&self.groups)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
