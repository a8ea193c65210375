//! The replica's invariants, checked between steps by tests and `--check` runs.

use std::collections::HashMap;

use super::sequence::{Phase, Running};
use super::{div_ceil, Replica};

impl Replica {
    /// Checks the replica's invariants between steps: block reference counts match the running
    /// requests' block tables, every running request holds exactly the blocks its progress
    /// needs, the decoder aggregates match the decoders, and use is within capacity.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut holders: HashMap<u32, u32> = HashMap::new();
        let mut unnamed = 0u64;
        let (mut decoders, mut base) = (0u32, 0i64);
        let k = self.k;
        for (seq, run) in self.running.iter() {
            for &b in &run.table {
                *holders.entry(b).or_default() += 1;
            }
            unnamed += run.unique as u64 + run.window as u64;
            if run.window as u64 != self.window_units(run.need as u64) {
                return Err(format!(
                    "request {} holds {} sliding-window blocks (want {})",
                    run.req,
                    run.window,
                    self.window_units(run.need as u64)
                ));
            }
            if run.unique > 0 && (run.table.len() as u32) < run.shared {
                return Err(format!(
                    "request {} holds request-unique blocks before its shareable positions end",
                    run.req
                ));
            }
            let (kv_tokens, _) = run.progress(k);
            let want = div_ceil(kv_tokens, self.bs as u64);
            // A prefill holds blocks for the chunk just computed; a decoder holds its tokens'
            // blocks (plus none ahead, since it allocates at the step that needs one).
            if run.held() != want {
                return Err(format!(
                    "request {} (seq {seq}) holds {} blocks for {kv_tokens} tokens (want {want})",
                    run.req,
                    run.held()
                ));
            }
            if let Phase::Decode { k_join, g_join } = run.phase {
                decoders += 1;
                base += run.prompt as i64 + g_join as i64 - k_join as i64;
                let b = self.dec.bucket(run.prompt, k_join, g_join);
                if self.dec.fill[b].get(run.bucket_pos as usize) != Some(seq) {
                    return Err(format!("decoder seq {seq} not at its bucket position"));
                }
            } else if !self.prefilling.contains(seq) {
                return Err(format!("prefilling seq {seq} missing from the prefill set"));
            }
        }
        if decoders != self.dec.count || base != self.dec.base_sum {
            return Err(format!(
                "decoder aggregates {} / {} but {decoders} / {base} counted",
                self.dec.count, self.dec.base_sum
            ));
        }
        let in_buckets: usize = self.dec.fill.iter().map(Vec::len).sum();
        if in_buckets != decoders as usize {
            return Err(format!(
                "{in_buckets} decoders in buckets, {decoders} running"
            ));
        }
        if self.running.len() as u32 > self.max_num_seqs {
            return Err("more running requests than max_num_seqs".into());
        }
        let owed: u64 = self.running.values().map(Running::owed).sum();
        if owed != self.owed {
            return Err(format!(
                "running requests owe {owed} blocks, {} tracked",
                self.owed
            ));
        }
        if self.no_evict && self.owed > self.kv.free() {
            return Err(format!(
                "guaranteed-no-evict promised {} blocks with {} free",
                self.owed,
                self.kv.free()
            ));
        }
        self.kv.check(&holders, unnamed)
    }
}
