//! Published figures from statistics.md for the evaluation module, each with its source.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use vigilo_stats::eval::*;

fn close(got: f64, want: f64, tol: f64, what: &str) {
    assert!(
        (got - want).abs() <= tol,
        "{what}: got {got:.10}, want {want:.10} (tol {tol})"
    );
}

/// Wilson and Clopper-Pearson cases; source: R 4.2 `prop.test(x, n, correct = FALSE)` and
/// `binom.test(x, n)`, as tabulated in statistics.md (6 decimals).
#[test]
fn wilson_and_clopper_pearson_match_r() {
    let cases = [
        (81, 263, [0.255289, 0.366210], [0.252737, 0.367622]),
        (15, 148, [0.062386, 0.160487], [0.057844, 0.161650]),
        (0, 20, [0.000000, 0.161125], [0.000000, 0.168433]),
        (1, 29, [0.006113, 0.171755], [0.000873, 0.177644]),
        (29, 29, [0.883030, 1.000000], [0.880555, 1.000000]),
        (95, 100, [0.888250, 0.978456], [0.887165, 0.983568]),
    ];
    for (x, n, w, cp) in cases {
        let pw = proportion(x, n, 0.95, IntervalMethod::Wilson).unwrap();
        close(pw.lower, w[0], 5e-7, "wilson lower");
        close(pw.upper, w[1], 5e-7, "wilson upper");
        let pc = proportion(x, n, 0.95, IntervalMethod::ClopperPearson).unwrap();
        close(pc.lower, cp[0], 5e-7, "cp lower");
        close(pc.upper, cp[1], 5e-7, "cp upper");
    }
    assert!(proportion(0, 0, 0.95, IntervalMethod::Wilson).is_err());
}

fn calibration_example() -> (Vec<bool>, Vec<f64>) {
    // The decimal values 0.05, 0.10, ... (k * 0.05 in floating point would put 0.3 just
    // above the bin edge and change the right-closed ECE bins).
    let mut p: Vec<f64> = (1..=19).map(|k| (5 * k) as f64 / 100.0).collect();
    p.push(0.99);
    let y = [0, 0, 0, 1, 0, 0, 1, 0, 0, 1, 1, 0, 1, 1, 0, 1, 1, 1, 1, 1];
    (y.iter().map(|&v| v == 1).collect(), p)
}

/// Calibration example; source: statistics.md, R `glm` and statsmodels agreeing to 8 decimals.
#[test]
fn calibration_example_matches_r() {
    let (y, p) = calibration_example();
    close(brier(&y, &p).unwrap(), 0.163755, 5e-7, "brier");
    let fit = calibration_fit(&y, &p).unwrap();
    close(fit.intercept, 0.15888339, 5e-9, "intercept");
    close(fit.slope, 1.08818271, 5e-9, "slope");
    close(fit.calibration_in_the_large, 0.15308151, 5e-9, "citl");
    let e = ece(&y, &p, BinRule::EqualWidth(10)).unwrap();
    close(e.ece, 0.16550000, 5e-9, "ece");
}

/// Fairness example; source: statistics.md (fairlearn's definitions, R agreeing).
#[test]
fn fairness_example_matches_fairlearn() {
    let (y, p) = calibration_example();
    let groups: Vec<String> = "AABABABBAABABBABABAB"
        .chars()
        .map(|c| c.to_string())
        .collect();
    let r = subgroup_metrics(&y, &p, &groups, 0.5, 0.95, IntervalMethod::Wilson).unwrap();
    let a = &r.groups[0];
    let b = &r.groups[1];
    assert_eq!((a.group.as_str(), b.group.as_str()), ("A", "B"));
    close(
        a.metrics.selection_rate.unwrap().estimate,
        0.5,
        1e-12,
        "sel A",
    );
    close(
        a.metrics.sensitivity.unwrap().estimate,
        0.75,
        1e-12,
        "tpr A",
    );
    close(
        1.0 - a.metrics.specificity.unwrap().estimate,
        1.0 / 3.0,
        1e-12,
        "fpr A",
    );
    close(
        b.metrics.selection_rate.unwrap().estimate,
        0.6,
        1e-12,
        "sel B",
    );
    close(
        b.metrics.sensitivity.unwrap().estimate,
        6.0 / 7.0,
        1e-12,
        "tpr B",
    );
    close(
        1.0 - b.metrics.specificity.unwrap().estimate,
        0.0,
        1e-12,
        "fpr B",
    );
    close(r.demographic_parity_difference.unwrap(), 0.1, 5e-7, "dpd");
    close(r.demographic_parity_ratio.unwrap(), 0.833333, 5e-7, "dpr");
    close(r.equalized_odds_difference.unwrap(), 0.333333, 5e-7, "eod");
    close(
        r.equal_opportunity_difference.unwrap(),
        0.107143,
        5e-7,
        "eopd",
    );
}

/// outcome (Poor = true), wfns, s100b, ndka.
type Asah = (Vec<bool>, Vec<f64>, Vec<f64>, Vec<f64>);

/// Reads ../shared/data/proc_asah.csv (pROC's aSAH data; GPL, so never copied into the repo).
/// Returns None, after saying so, when the shared folder is absent.
fn load_asah() -> Option<Asah> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/proc_asah.csv");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(_) => {
            println!("skipping: {} not present", path.display());
            return None;
        }
    };
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .unwrap()
        .split(',')
        .map(|s| s.trim_matches('"').to_string())
        .collect();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (io, iw, is, ind) = (col("outcome"), col("wfns"), col("s100b"), col("ndka"));
    let (mut y, mut wfns, mut s100b, mut ndka) = (vec![], vec![], vec![], vec![]);
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split(',').map(|s| s.trim_matches('"')).collect();
        y.push(f[io] == "Poor");
        wfns.push(f[iw].parse().unwrap());
        s100b.push(f[is].parse().unwrap());
        ndka.push(f[ind].parse().unwrap());
    }
    Some((y, wfns, s100b, ndka))
}

/// pROC 1.18.0 on aSAH (values from shared/data/README.md): AUC, DeLong variance, CI, and the
/// paired DeLong tests.
#[test]
fn proc_asah_auc_and_delong() {
    let Some((y, wfns, s100b, ndka)) = load_asah() else {
        return;
    };
    assert_eq!(y.len(), 113);
    assert_eq!(y.iter().filter(|&&v| v).count(), 41);
    let s = auroc_delong(&y, &s100b, 0.95).unwrap();
    close(s.auc, 0.7313685637, 1e-10, "s100b auc");
    close(s.variance, 2.6686824572e-03, 1e-13, "s100b var");
    close(s.lower, 0.6301182118, 1e-10, "s100b lower");
    close(s.upper, 0.8326189156, 1e-10, "s100b upper");
    let w = auroc_delong(&y, &wfns, 0.95).unwrap();
    close(w.auc, 0.8236788618, 1e-10, "wfns auc");
    close(w.lower, 0.7485348878, 1e-10, "wfns lower");
    close(w.upper, 0.8988228358, 1e-10, "wfns upper");
    let n = auroc_delong(&y, &ndka, 0.95).unwrap();
    close(n.auc, 0.6119579946, 1e-10, "ndka auc");
    close(n.lower, 0.5012449993, 1e-10, "ndka lower");
    close(n.upper, 0.7226709899, 1e-10, "ndka upper");
    let t = delong_paired(&y, &s100b, &wfns).unwrap();
    close(t.z, -2.2089835914, 1e-9, "z s100b vs wfns");
    close(t.p_value, 0.0271757822, 1e-10, "p s100b vs wfns");
    let t = delong_paired(&y, &s100b, &ndka).unwrap();
    close(t.z, 1.3907700257, 1e-9, "z s100b vs ndka");
    close(t.p_value, 0.1642951752, 1e-10, "p s100b vs ndka");
}
