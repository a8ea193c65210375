//! Words and numbers for sentences and tables, shared by every stage that writes them: dollars,
//! token volumes, fleet shapes. Imports nothing else of the crate.

/// "2 replicas of 4 x h100-sxm (TP 4) = 8 GPUs", or "2 x h100-sxm = 2 GPUs" without TP.
pub fn fleet_shape(replicas: u32, gpu: &str, tp: u32) -> String {
    let gpus = replicas as u64 * tp as u64;
    let plural = |n: u64, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    if tp > 1 {
        format!(
            "{} of {tp} x {gpu} (TP {tp}) = {}",
            plural(replicas as u64, "replica"),
            plural(gpus, "GPU")
        )
    } else {
        format!("{replicas} x {gpu} = {}", plural(gpus, "GPU"))
    }
}

/// A token count in words: `3.6 billion`, `250 million`.
pub fn tokens_words(x: f64) -> String {
    if x >= 1e12 {
        format!("{:.1} trillion", x / 1e12)
    } else if x >= 1e9 {
        format!("{:.1} billion", x / 1e9)
    } else {
        format!("{:.0} million", x / 1e6)
    }
}

/// Whole dollars with thousands separators: `$11,131`.
pub fn money(x: f64) -> String {
    let s = format!("{:.0}", x.abs());
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    format!("{}${out}", if x < 0.0 { "-" } else { "" })
}

/// Notes as `(label, text)`, one line per distinct text with the labels that share it, in the
/// order each text first appears: "mi300x / tp 2, mi300x / tp 4: extrapolated: ...".
pub(crate) fn labelled_once(items: Vec<(String, String)>) -> Vec<String> {
    let mut out: Vec<(Vec<String>, String)> = Vec::new();
    for (label, text) in items {
        match out.iter_mut().find(|(_, t)| *t == text) {
            Some((labels, _)) => {
                if !labels.contains(&label) {
                    labels.push(label);
                }
            }
            None => out.push((vec![label], text)),
        }
    }
    out.into_iter()
        .map(|(labels, text)| format!("{}: {text}", labels.join(", ")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labelled_once_joins_the_labels_of_one_text_in_first_seen_order() {
        let n = |l: &str, t: &str| (l.to_string(), t.to_string());
        assert_eq!(
            labelled_once(vec![n("b", "x"), n("a", "y"), n("c", "x"), n("b", "x")]),
            vec!["b, c: x".to_string(), "a: y".to_string()]
        );
        assert!(labelled_once(vec![]).is_empty());
    }
}
