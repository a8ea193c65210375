//! The optimizers the fits share: golden-section line search, coordinate descent within
//! bounds, and Nelder-Mead for narrow valleys.

use crate::perf::RooflineParams;

/// Golden-section minimum of `f` on `[a, b]`; `a` itself, without evaluating `f`, when the
/// interval is a point (a parameter held fixed).
pub fn golden(mut a: f64, mut b: f64, iters: usize, f: impl Fn(f64) -> f64) -> f64 {
    if a == b {
        return a;
    }
    let g = (5f64.sqrt() - 1.0) / 2.0;
    let (mut c, mut d) = (b - g * (b - a), a + g * (b - a));
    let (mut fc, mut fd) = (f(c), f(d));
    for _ in 0..iters {
        if fc < fd {
            b = d;
            d = c;
            fd = fc;
            c = b - g * (b - a);
            fc = f(c);
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + g * (b - a);
            fd = f(d);
        }
    }
    (a + b) / 2.0
}

/// Coordinate descent over compute efficiency, memory efficiency and per-step overhead (in that
/// order, each by a golden-section search of `iters` steps within its `bounds`), for `rounds`
/// rounds from `p`; with `stop_when_flat`, it stops early once a round no longer improves `f`.
pub fn descend(
    f: &dyn Fn(RooflineParams) -> f64,
    mut p: RooflineParams,
    bounds: [(f64, f64); 3],
    iters: usize,
    rounds: usize,
    stop_when_flat: bool,
) -> RooflineParams {
    for _ in 0..rounds {
        let before = if stop_when_flat { f(p) } else { 0.0 };
        p.compute_efficiency = golden(bounds[0].0, bounds[0].1, iters, |x| {
            f(RooflineParams {
                compute_efficiency: x,
                ..p
            })
        });
        p.memory_efficiency = golden(bounds[1].0, bounds[1].1, iters, |x| {
            f(RooflineParams {
                memory_efficiency: x,
                ..p
            })
        });
        p.step_overhead_ms = golden(bounds[2].0, bounds[2].1, iters, |x| {
            f(RooflineParams {
                step_overhead_ms: x,
                ..p
            })
        });
        if stop_when_flat && (before - f(p)).abs() < 1e-14 {
            break;
        }
    }
    p
}

/// Nelder-Mead minimum of `f` over three variables from `x0` with initial steps `step`
/// (standard reflection 1, expansion 2, contraction 0.5, shrink 0.5). Used where coordinate
/// descent crawls along a narrow valley (memory efficiency against overhead).
pub fn nelder_mead(
    f: impl Fn([f64; 3]) -> f64,
    x0: [f64; 3],
    step: [f64; 3],
    iters: usize,
) -> [f64; 3] {
    let mut pts: Vec<([f64; 3], f64)> = (0..4)
        .map(|i| {
            let mut x = x0;
            if i > 0 {
                x[i - 1] += step[i - 1];
            }
            (x, f(x))
        })
        .collect();
    let lerp = |a: [f64; 3], b: [f64; 3], t: f64| {
        [
            a[0] + t * (b[0] - a[0]),
            a[1] + t * (b[1] - a[1]),
            a[2] + t * (b[2] - a[2]),
        ]
    };
    for _ in 0..iters {
        pts.sort_by(|a, b| a.1.total_cmp(&b.1));
        let c = {
            let mut c = [0.0; 3];
            for p in &pts[..3] {
                for (ck, pk) in c.iter_mut().zip(p.0) {
                    *ck += pk / 3.0;
                }
            }
            c
        };
        let worst = pts[3];
        let r = lerp(c, worst.0, -1.0);
        let fr = f(r);
        if fr < pts[0].1 {
            let e = lerp(c, worst.0, -2.0);
            let fe = f(e);
            pts[3] = if fe < fr { (e, fe) } else { (r, fr) };
        } else if fr < pts[2].1 {
            pts[3] = (r, fr);
        } else {
            let k = lerp(c, worst.0, 0.5);
            let fk = f(k);
            if fk < worst.1 {
                pts[3] = (k, fk);
            } else {
                let best = pts[0].0;
                for p in pts.iter_mut().skip(1) {
                    let x = lerp(best, p.0, 0.5);
                    *p = (x, f(x));
                }
            }
        }
    }
    pts.sort_by(|a, b| a.1.total_cmp(&b.1));
    pts[0].0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A point interval is a parameter held fixed: its value, with no evaluation of `f`.
    #[test]
    fn golden_on_a_point_returns_it_without_evaluating() {
        assert_eq!(golden(1.38, 1.38, 10, |_| panic!("evaluated")), 1.38);
        let x = golden(0.0, 2.0, 40, |x| (x - 0.7) * (x - 0.7));
        assert!((x - 0.7).abs() < 1e-6, "{x}");
    }
}
