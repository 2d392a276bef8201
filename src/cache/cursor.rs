//! A cache namespace's place in the outbox: which rows it has applied.
//!
//! Every cache over the database (a Redis and key prefix, an in-process
//! cache, a set of edge caches) applies every outbox row itself, so no
//! cache can take a row away from another. A cursor is a position and the
//! ids of the rows at or after it that are already applied:
//!
//! - A row's position orders rows by commit: its id on SQLite (one writer
//!   at a time, so ids become visible in order), its transaction id on
//!   PostgreSQL (ids are handed out before commit, so a later id can be
//!   visible before an earlier one).
//! - Before reading rows the flusher reads the *settled* position: every
//!   row before it is committed (or rolled back) and so visible to the read
//!   that follows. Only then may the cursor move to it; rows from
//!   transactions still running are at or after it, and are read again.
//! - A cursor claims only what was applied, so two instances sharing a
//!   namespace may overwrite each other's cursor: the older one only makes
//!   a row apply twice, which costs a miss, never a stale hit.

use std::collections::{BTreeSet, HashMap};

/// One outbox row, as a namespace sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub id: i64,
    pub position: i64,
    pub tags: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Cursor {
    /// Every row before this position is applied.
    pub position: i64,
    /// Rows at or after `position` that are applied.
    pub applied: BTreeSet<i64>,
}

impl Cursor {
    /// Nothing at or after `position` applied yet.
    pub fn at(position: i64) -> Self {
        Cursor { position, applied: BTreeSet::new() }
    }

    /// `position` then the applied ids, space-separated.
    pub fn encode(&self) -> String {
        match self.applied_list().as_str() {
            "" => self.position.to_string(),
            applied => format!("{} {applied}", self.position),
        }
    }

    /// The cursor [`Cursor::encode`] wrote; `None` for anything else, which
    /// the namespace then treats as lost.
    pub fn decode(raw: &str) -> Option<Self> {
        match raw.split_once(' ') {
            None => Some(Cursor::at(raw.parse().ok()?)),
            Some((_, "")) => None,
            Some((position, applied)) => Self::from_parts(position.parse().ok()?, applied),
        }
    }

    /// A cursor from its position and its applied ids, space-separated.
    pub fn from_parts(position: i64, applied: &str) -> Option<Self> {
        let applied = match applied {
            "" => BTreeSet::new(),
            ids => ids.split(' ').map(|p| p.parse().ok()).collect::<Option<_>>()?,
        };
        Some(Cursor { position, applied })
    }

    /// The applied ids, space-separated.
    pub fn applied_list(&self) -> String {
        self.applied.iter().map(i64::to_string).collect::<Vec<_>>().join(" ")
    }

    /// Whether `row` still has to be applied.
    pub fn is_pending(&self, row: &Row) -> bool {
        row.position >= self.position && !self.applied.contains(&row.id)
    }

    /// The cursor once `seen` (rows at or after this cursor's position, read
    /// in position order, all now applied) are applied.
    ///
    /// `settled` is the settled position read before the rows. `complete`
    /// says every row from this position on was read; otherwise the last
    /// position read may have more rows, so the cursor stops there.
    pub fn advanced(&self, seen: &[(i64, i64)], settled: i64, complete: bool) -> Cursor {
        let last = seen.iter().map(|&(_, position)| position).max();
        let reached = match (complete, last) {
            (true, _) | (false, None) => settled,
            (false, Some(last)) => last.min(settled),
        };
        let position = self.position.max(reached);
        let positions: HashMap<i64, i64> = seen.iter().copied().collect();
        let applied = self
            .applied
            .iter()
            .copied()
            .chain(seen.iter().map(|&(id, _)| id))
            .filter(|id| match positions.get(id) {
                Some(&p) => p >= position,
                // Not read again: either past the rows read so far, or, once
                // every row was read, deleted (retention), so not needed.
                None => !complete,
            })
            .collect();
        Cursor { position, applied }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, position: i64) -> Row {
        Row { id, position, tags: "lists".into() }
    }

    #[test]
    fn a_cursor_reads_back_what_it_wrote_and_refuses_anything_else() {
        let c = Cursor { position: 41, applied: [43, 47].into() };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        assert_eq!(Cursor::decode("12"), Some(Cursor::at(12)));
        for bad in ["", "x", "1 2 y", "1  2", "1 "] {
            assert_eq!(Cursor::decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_row_from_a_transaction_still_running_is_read_again_after_the_cursor_moves() {
        // Rows 10 and 12 are visible; 11 belongs to a transaction still
        // running, so the settled position is 11.
        let start = Cursor::at(5);
        let next = start.advanced(&[(10, 10), (12, 12)], 11, true);
        assert_eq!(next, Cursor { position: 11, applied: [12].into() });
        // 11 commits: it is pending, 12 is not.
        assert!(next.is_pending(&row(11, 11)));
        assert!(!next.is_pending(&row(12, 12)));
        let after = next.advanced(&[(11, 11), (12, 12)], 13, true);
        assert_eq!(after, Cursor::at(13));
    }

    #[test]
    fn on_postgresql_ids_and_positions_disagree_and_positions_decide() {
        // Row 8 was written by transaction 100, row 7 by transaction 104,
        // which is still running when the settled position is read.
        let next = Cursor::at(90).advanced(&[(8, 100)], 104, true);
        assert_eq!(next, Cursor::at(104));
        assert!(next.is_pending(&row(7, 104)));
    }

    #[test]
    fn an_unfinished_read_stops_at_the_last_position_it_read() {
        let next = Cursor { position: 0, applied: [70].into() }.advanced(&[(1, 1), (2, 2)], 50, false);
        // Position 2 may have more rows; 70 was not read again yet, so stays.
        assert_eq!(next, Cursor { position: 2, applied: [2, 70].into() });
    }

    #[test]
    fn a_cursor_never_moves_back() {
        let next = Cursor::at(30).advanced(&[], 10, true);
        assert_eq!(next.position, 30);
    }

    #[test]
    fn applied_rows_no_longer_in_the_outbox_are_dropped_once_every_row_was_read() {
        let next = Cursor { position: 5, applied: [6, 9].into() }.advanced(&[(9, 9)], 8, true);
        assert_eq!(next, Cursor { position: 8, applied: [9].into() });
    }
}
