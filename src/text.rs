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
