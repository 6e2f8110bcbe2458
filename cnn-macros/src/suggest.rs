//! "Did you mean" suggestions for misspelled names.

/// Edit distance between two strings (insertions, deletions, substitutions).
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == cb {
                prev
            } else {
                1 + prev.min(cur).min(row[j])
            };
            prev = cur;
        }
    }
    row[b.len()]
}

/// The closest candidate, if it is close enough to be a likely misspelling; case is ignored.
pub fn closest<'a>(name: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let lower = name.to_lowercase();
    candidates
        .iter()
        .map(|c| (distance(&lower, &c.to_lowercase()), *c))
        .filter(|(d, c)| *d <= (c.len().max(name.len()) / 3).max(2) && *d < c.len().min(name.len()))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `" (hint: did you mean `x`?)"`, or `otherwise` when no candidate is close.
pub fn did_you_mean(name: &str, candidates: &[&str], otherwise: &str) -> String {
    match closest(name, candidates) {
        Some(c) => format!(" (hint: did you mean `{c}`?)"),
        None if otherwise.is_empty() => String::new(),
        None => format!(" (hint: {otherwise})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let layers = ["Conv2d", "MaxPool2d", "ReLU", "Linear"];
        assert_eq!(closest("Conv2D", &layers), Some("Conv2d"));
        assert_eq!(closest("Maxpool2d", &layers), Some("MaxPool2d"));
        assert_eq!(closest("Relu", &layers), Some("ReLU"));
        assert_eq!(closest("Lineer", &layers), Some("Linear"));
        assert_eq!(closest("Transformer", &layers), None);
        assert_eq!(distance("kitten", "sitting"), 3);
    }
}
