//! The sweep loop: points run in parallel on a thread pool of their own, each finished point
//! appended to the journal at once, the summaries rebuilt from what has finished at a bounded
//! rate (so their cost stays linear in the number of points) and once at the end.

use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use rayon::prelude::*;

use super::{thread_pool, Point, PointLog, PointResult, Sweep};
use crate::error::Result;

/// Seconds between rebuilds of the summary files while a sweep runs.
pub const SUMMARY_EVERY_S: f64 = 2.0;

/// How a sweep runs.
pub struct RunOptions<'a> {
    /// Worker threads.
    pub threads: usize,
    /// The output folder: the journal ([`super::POINT_LOG`]) is written there.
    pub out: &'a Path,
    /// Keep the points the journal already holds and run only the others.
    pub resume: bool,
    /// Writes the summary files from every point finished so far (called every
    /// [`SUMMARY_EVERY_S`] while points finish; the caller writes the final ones).
    pub summaries: &'a (dyn Fn(&[PointResult]) -> Result<()> + Sync),
    /// Called as each point finishes (progress).
    pub on_point: &'a (dyn Fn() + Sync),
}

impl std::fmt::Debug for RunOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("threads", &self.threads)
            .field("out", &self.out)
            .field("resume", &self.resume)
            .finish_non_exhaustive()
    }
}

/// A finished sweep.
#[derive(Debug)]
pub struct SweepRun {
    /// Every point's result, in point order.
    pub results: Vec<PointResult>,
    /// Points taken from the journal instead of run.
    pub resumed: usize,
    /// Replica capacities found (one per GPU and replica settings).
    pub capacities: usize,
    /// Whole fleets' capacities measured (one per fleet size, router and group where pooling
    /// or an affinity router can make it differ from replicas x one replica's).
    pub fleet_capacities: usize,
    /// Seconds spent finding them.
    pub capacity_s: f64,
    /// Threads used.
    pub threads: usize,
}

impl Sweep {
    /// Runs `points` (all of the sweep's, in order) as `o` says; the journal holds every finished
    /// point when this returns, even on an error writing the summaries.
    pub fn run(&self, points: &[Point], o: &RunOptions) -> Result<SweepRun> {
        let pool = thread_pool(o.threads)?;
        let (log, resumed) = if o.resume {
            PointLog::resume(o.out, points)?
        } else {
            (PointLog::create(o.out)?, Vec::new())
        };
        let mut slots: Vec<Option<PointResult>> = vec![None; points.len()];
        let resumed_n = resumed.len();
        for r in resumed {
            let i = r.point;
            slots[i] = Some(r);
        }
        for _ in 0..resumed_n {
            (o.on_point)();
        }
        let todo: Vec<&Point> = points.iter().filter(|p| slots[p.index].is_none()).collect();
        let results: Mutex<(Vec<Option<PointResult>>, PointLog, Instant)> =
            Mutex::new((slots, log, Instant::now()));
        let write_error: Mutex<Option<crate::Error>> = Mutex::new(None);
        let t_cap = Instant::now();
        let todo_points: Vec<Point> = todo.iter().map(|p| (*p).clone()).collect();
        let capacities = pool.install(|| self.capacities(&todo_points));
        let fleets = pool.install(|| self.fleet_capacities(&todo_points, &capacities));
        let capacity_s = t_cap.elapsed().as_secs_f64();
        pool.install(|| {
            todo.par_iter().for_each(|p| {
                let capacity = self.fleet_capacity_for(p, &fleets, &capacities);
                let r = self.run_point(p, capacity.as_ref());
                let mut guard = results.lock().unwrap_or_else(|e| e.into_inner());
                let (all, log, last_write) = &mut *guard;
                let fail = |e: crate::Error| {
                    *write_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
                };
                if let Err(e) = log.append(&r) {
                    fail(e);
                }
                all[p.index] = Some(r);
                if last_write.elapsed().as_secs_f64() >= SUMMARY_EVERY_S {
                    let done: Vec<PointResult> = all.iter().flatten().cloned().collect();
                    if let Err(e) = (o.summaries)(&done) {
                        fail(e);
                    }
                    *last_write = Instant::now();
                }
                (o.on_point)();
            })
        });
        if let Some(e) = write_error.into_inner().unwrap_or_else(|e| e.into_inner()) {
            return Err(e);
        }
        let results: Vec<PointResult> = results
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .into_iter()
            .flatten()
            .collect();
        Ok(SweepRun {
            results,
            resumed: resumed_n,
            capacities: capacities.len(),
            fleet_capacities: fleets.len(),
            capacity_s,
            threads: pool.current_num_threads(),
        })
    }
}
