//! Render benchmark: PNG 512 px and SVG for a URL code at EC M and H, plain and styled with a
//! logo, against the raw matrix encode (the baseline) measured in the same run. Prints renders/s,
//! CPU µs per render (thread CPU time, so other load on the machine does not inflate it) and the
//! ratio to the baseline. Run with `scripts/bench render` (release build).

// A test or bench fails by panicking; the workspace lints deny it in the service only.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::time::Instant;

use bytes::Bytes;
use qrsaas::domain::Design;
use qrsaas::domain::design::{Ec, EyeStyle, ModuleStyle};
use qrsaas::render::{Format, Matrix, Spec, render};

const URL: &str = "https://qr.example.com/r/Ab3dE9x?src=p1"; // 40 bytes

#[allow(unsafe_code)] // libc has no safe wrapper for this thread's CPU clock
fn thread_cpu_micros() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 * 1e6 + ts.tv_nsec as f64 / 1e3
}

/// Runs `f` for about `budget_ms` of wall time after a warm-up; returns (per second, CPU µs each).
fn measure(budget_ms: u128, mut f: impl FnMut()) -> (f64, f64) {
    for _ in 0..20 {
        f();
    }
    let (start, cpu0) = (Instant::now(), thread_cpu_micros());
    let mut n = 0u64;
    while start.elapsed().as_millis() < budget_ms {
        f();
        n += 1;
    }
    let wall = start.elapsed().as_secs_f64();
    (n as f64 / wall, (thread_cpu_micros() - cpu0) / n as f64)
}

fn logo() -> Bytes {
    let img = image::RgbImage::from_fn(256, 256, |x, y| image::Rgb([x as u8, y as u8, 160]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("logo");
    Bytes::from(out.into_inner())
}

fn main() {
    let budget = std::env::var("BENCH_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500);
    println!(
        "render benchmark — 40-byte URL, 512 px, one thread; baseline = module matrix encode (qrcode 0.14)"
    );
    println!(
        "{:<34} {:>11} {:>12} {:>10}",
        "case", "per second", "CPU µs each", "× baseline"
    );
    for ec in [Ec::M, Ec::H] {
        let (bps, base) = measure(budget, || {
            black_box(Matrix::encode(black_box(URL), ec).expect("encode"));
        });
        println!(
            "{:<34} {:>11.0} {:>12.1} {:>10.2}",
            format!("matrix encode EC {ec:?} (baseline)"),
            bps,
            base,
            1.0
        );
        let styled = Design {
            module_style: ModuleStyle::Dots,
            eye_style: EyeStyle::Rounded,
            logo_upload_id: Some(uuid::Uuid::nil()),
            error_correction: ec,
            ..Design::default()
        };
        let cases = [
            (
                "PNG plain",
                Design {
                    error_correction: ec,
                    ..Design::default()
                },
                Format::Png,
                None,
            ),
            (
                "SVG plain",
                Design {
                    error_correction: ec,
                    ..Design::default()
                },
                Format::Svg,
                None,
            ),
            (
                "PNG styled + logo",
                styled.clone(),
                Format::Png,
                Some(logo()),
            ),
            ("SVG styled + logo", styled, Format::Svg, Some(logo())),
        ];
        for (name, design, format, logo) in cases {
            let spec = Spec {
                payload: URL.into(),
                design,
                caption: None,
                caption_on_top: false,
                logo,
                format,
                size: 512,
            };
            let (ps, cpu) = measure(budget, || {
                black_box(render(black_box(&spec)).expect("render"));
            });
            println!(
                "{:<34} {:>11.0} {:>12.1} {:>10.2}",
                format!("{name} EC {ec:?}"),
                ps,
                cpu,
                cpu / base
            );
        }
    }
}
