//! Text edits: byte ranges of the original text and what replaces them,
//! applied together, with the offset mapping between the two texts.

use std::ops::Range;

/// Replace `range` (bytes of the original text) with `replacement`. An
/// empty range inserts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Edit {
    pub range: Range<usize>,
    pub replacement: String,
}

impl Edit {
    pub fn new(range: Range<usize>, replacement: impl Into<String>) -> Edit {
        Edit { range, replacement: replacement.into() }
    }

    pub fn insert(at: usize, text: impl Into<String>) -> Edit {
        Edit::new(at..at, text)
    }

    /// Whether the two edits cannot both apply. Identical edits can (they
    /// are one edit); insertions at the same point can (in the order given);
    /// edits that only touch can.
    pub fn conflicts(&self, other: &Edit) -> bool {
        self != other && (overlaps(&self.range, &other.range) || overlaps(&other.range, &self.range))
    }
}

/// Whether `edit` changes text inside `range`: the two share at least one
/// byte, or `edit` inserts strictly inside `range`. An empty `range`
/// overlaps nothing but an edit that replaces text around it.
pub fn overlaps(range: &Range<usize>, edit: &Range<usize>) -> bool {
    if edit.is_empty() {
        range.start < edit.start && edit.start < range.end
    } else if range.is_empty() {
        edit.start < range.start && range.start < edit.end
    } else {
        range.start < edit.end && edit.start < range.end
    }
}

/// Edits that apply together: sorted, without duplicates, none conflicting.
#[derive(Debug, Clone, Default)]
pub struct EditSet {
    edits: Vec<Edit>,
    /// Each edit's range in the edited text.
    new_ranges: Vec<Range<usize>>,
}

impl EditSet {
    /// Sorts and deduplicates `edits`; insertions at one point keep the
    /// order given. Conflicting edits are an error.
    pub fn new(edits: impl IntoIterator<Item = Edit>) -> Result<EditSet, String> {
        let mut unique: Vec<Edit> = Vec::new();
        for edit in edits {
            if !unique.contains(&edit) {
                unique.push(edit);
            }
        }
        // Stable: at one offset, insertions come before the replacement
        // that starts there, and insertions keep their order.
        unique.sort_by_key(|e| (e.range.start, e.range.end));
        for pair in unique.windows(2) {
            if pair[0].conflicts(&pair[1]) || pair[0].range.end > pair[1].range.start {
                return Err(format!(
                    "edits overlap (bytes {}..{} and {}..{})",
                    pair[0].range.start, pair[0].range.end, pair[1].range.start, pair[1].range.end
                ));
            }
        }
        let mut new_ranges = Vec::with_capacity(unique.len());
        let mut shift: isize = 0;
        for edit in &unique {
            let start = (edit.range.start as isize + shift) as usize;
            new_ranges.push(start..start + edit.replacement.len());
            shift += edit.replacement.len() as isize - edit.range.len() as isize;
        }
        Ok(EditSet { edits: unique, new_ranges })
    }

    pub fn edits(&self) -> &[Edit] {
        &self.edits
    }

    pub fn is_empty(&self) -> bool {
        self.edits.is_empty()
    }

    /// The ranges the edits occupy in the edited text.
    pub fn new_ranges(&self) -> &[Range<usize>] {
        &self.new_ranges
    }

    /// The edited text. Every range must lie on character boundaries of
    /// `source`.
    pub fn apply(&self, source: &str) -> String {
        let grow: usize = self.edits.iter().map(|e| e.replacement.len()).sum();
        let mut out = String::with_capacity(source.len() + grow);
        let mut at = 0;
        for edit in &self.edits {
            out.push_str(&source[at..edit.range.start]);
            out.push_str(&edit.replacement);
            at = edit.range.end;
        }
        out.push_str(&source[at..]);
        out
    }

    /// Whether any edit changes text inside `range` (original offsets).
    pub fn touches(&self, range: &Range<usize>) -> bool {
        self.edits.iter().any(|e| overlaps(range, &e.range))
    }

    fn delta(edit: &Edit) -> isize {
        edit.replacement.len() as isize - edit.range.len() as isize
    }

    /// Where an original range lies in the edited text; an end that falls
    /// inside an edit grows to the end of what replaced it, and so does a
    /// start to its beginning.
    pub fn map_range(&self, range: &Range<usize>) -> Range<usize> {
        let mut start = range.start as isize;
        let mut end = range.end as isize;
        let mut start_done = false;
        let mut end_done = false;
        for (edit, new) in self.edits.iter().zip(&self.new_ranges) {
            let (s, e) = (edit.range.start, edit.range.end);
            if !start_done {
                if s < e && s <= range.start && range.start < e {
                    start = new.start as isize;
                    start_done = true;
                } else if e <= range.start {
                    start += Self::delta(edit);
                }
            }
            if !end_done {
                if s < e && s < range.end && range.end <= e {
                    end = new.end as isize;
                    end_done = true;
                } else if e < range.end || (e == range.end && s < e) {
                    end += Self::delta(edit);
                }
            }
        }
        start as usize..(end.max(start)) as usize
    }

    /// The original range of a range of the edited text that no edit
    /// touches; `None` when an edit does.
    pub fn unmap_range(&self, range: &Range<usize>) -> Option<Range<usize>> {
        if self.new_ranges.iter().any(|new| overlaps(range, new)) {
            return None;
        }
        let mut shift: isize = 0;
        for (edit, new) in self.edits.iter().zip(&self.new_ranges) {
            if new.end <= range.start {
                shift += Self::delta(edit);
            }
        }
        Some((range.start as isize - shift) as usize..(range.end as isize - shift) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_sorts_dedups_and_maps() {
        let source = "import numpy as np\nx = np.float_(1)\n";
        let at = source.find("float_").unwrap();
        let edits = EditSet::new([
            Edit::new(at..at + 6, "float64"),
            Edit::insert(18, "\nimport math"),
            Edit::new(at..at + 6, "float64"),
        ])
        .unwrap();
        assert_eq!(edits.edits().len(), 2);
        let out = edits.apply(source);
        assert_eq!(out, "import numpy as np\nimport math\nx = np.float64(1)\n");
        // `np.float_` grows to cover its replacement.
        let np = source.find("np.float_").unwrap();
        let mapped = edits.map_range(&(np..np + 9));
        assert_eq!(&out[mapped], "np.float64");
        // `x` moves by the inserted line.
        let x = source.find("x =").unwrap();
        assert_eq!(&out[edits.map_range(&(x..x + 1))], "x");
        let new_x = out.find("x =").unwrap();
        assert_eq!(edits.unmap_range(&(new_x..new_x + 1)), Some(x..x + 1));
        let new_float = out.find("float64").unwrap();
        assert_eq!(edits.unmap_range(&(new_float..new_float + 7)), None);
        // Text before every edit stays put.
        assert_eq!(edits.unmap_range(&(0..6)), Some(0..6));
    }

    #[test]
    fn overlapping_edits_are_refused_touching_ones_are_not() {
        assert!(EditSet::new([Edit::new(0..4, "a"), Edit::new(3..6, "b")]).is_err());
        assert!(EditSet::new([Edit::new(0..4, "a"), Edit::new(4..6, "b")]).is_ok());
        assert!(EditSet::new([Edit::new(0..4, "a"), Edit::insert(2, "b")]).is_err());
        let same_point = EditSet::new([Edit::insert(2, "b"), Edit::insert(2, "a")]).unwrap();
        assert_eq!(same_point.apply("xxxx"), "xxbaxx");
        assert!(Edit::new(0..4, "a").conflicts(&Edit::new(2..3, "b")));
        assert!(!Edit::new(0..4, "a").conflicts(&Edit::new(0..4, "a")));
        assert!(!Edit::insert(4, "a").conflicts(&Edit::new(0..4, "b")));
    }
}
