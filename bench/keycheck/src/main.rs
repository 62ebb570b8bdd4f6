//! API-key check micro-benchmark.
//!
//! Usage: nugate-bench-keycheck DATA_DIR [DATABASE_URL]
//!
//! Prints one JSON object: per-check wall time and CPU time (utime+stime of the whole process, from
//! /proc/self/stat, so work done on the database driver's own threads is counted) for
//!   * `pure`: `api_key::parse` of a presented key + `api_key::hashes_match` against the stored hash;
//!   * `authenticate`: `KeyService::check`, the one check every keyed request makes (the wrong-key throttle's
//!     count for the key identifier, parse, one joined key + owner lookup, hash compare);
//!   * `relist_keyed` / `relist_unkeyed`: the relist endpoint's work with and without its key: find the
//!     version, change its listing in a write transaction; keyed, `KeyService::check` first and
//!     `PackageService::set_listed_with_key` (scope and ownership) as the endpoint does; unkeyed,
//!     `PackageService::set_listed_as` for an administrator (no ownership query).
//! Each runs for a fixed wall-clock budget after a warm-up, on a current-thread runtime.

use std::hint::black_box;
use std::time::{Duration, Instant};

use nugate::auth::api_key;
use nugate::auth::keys::{KeyScope, KeyUse};
use nugate::model::key::KeyAction;

/// Process CPU time (user + system) in seconds.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15 (1-based).
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields[11].parse().expect("utime");
    let stime: f64 = fields[12].parse().expect("stime");
    // The kernel reports these in USER_HZ, 100 on every Linux configuration in practice.
    (utime + stime) / 100.0
}

struct Sample {
    iterations: u64,
    wall_us: f64,
    cpu_us: f64,
}

fn json(name: &str, s: &Sample) -> String {
    format!(
        "\"{name}\": {{\"iterations\": {}, \"wall_us_per_check\": {:.3}, \"cpu_us_per_check\": {:.3}}}",
        s.iterations, s.wall_us, s.cpu_us
    )
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let data_dir = args.next().expect("usage: nugate-bench-keycheck DATA_DIR [DATABASE_URL]");
    let database_url = args.next();
    let budget = Duration::from_secs_f64(
        std::env::var("KEYCHECK_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(3.0),
    );

    let state = nugate::app::AppState::open(nugate::config::Config {
        data_dir: data_dir.into(),
        database_url,
        ..Default::default()
    })
    .await
    .expect("open state");
    let user = state
        .users
        .create("keybench", "keybench@example.com", "long bench password", true, true)
        .await
        .expect("create user");
    let scope = KeyScope {
        owner: None,
        actions: vec![KeyAction::Push, KeyAction::Unlist],
        packages: vec![],
        globs: vec!["*".into()],
    };
    let (row, plaintext) = state
        .keys
        .create(&user, "bench", &scope, None)
        .await
        .expect("create key");

    // Pure format + hash work.
    let pure = {
        let stored = row.secret_hash.clone();
        let run = |iters: u64| {
            let mut ok = 0u64;
            for _ in 0..iters {
                if let api_key::PresentedKey::Scoped { secret_hash, .. } =
                    api_key::parse(black_box(&plaintext))
                {
                    if api_key::hashes_match(&stored, &secret_hash) {
                        ok += 1;
                    }
                }
            }
            ok
        };
        assert_eq!(run(1000), 1000, "parse + hash must accept the minted key");
        let (cpu0, t0) = (cpu_seconds(), Instant::now());
        let mut n = 0u64;
        while t0.elapsed() < budget {
            n += run(10_000);
        }
        let (wall, cpu) = (t0.elapsed().as_secs_f64(), cpu_seconds() - cpu0);
        Sample { iterations: n, wall_us: wall * 1e6 / n as f64, cpu_us: cpu * 1e6 / n as f64 }
    };

    // Full authenticate: parse, indexed lookup, compare, user load, (rate-limited) last-used touch.
    let full = {
        for _ in 0..200 {
            state.keys.check(&plaintext, None, KeyUse::Api).await.expect("authenticate");
        }
        let (cpu0, t0) = (cpu_seconds(), Instant::now());
        let mut n = 0u64;
        while t0.elapsed() < budget {
            for _ in 0..100 {
                black_box(state.keys.check(black_box(&plaintext), None, KeyUse::Api).await.expect("authenticate"));
            }
            n += 100;
        }
        let (wall, cpu) = (t0.elapsed().as_secs_f64(), cpu_seconds() - cpu0);
        Sample { iterations: n, wall_us: wall * 1e6 / n as f64, cpu_us: cpu * 1e6 / n as f64 }
    };

    // The same relist with and without the key, alternating listed/unlisted so every call writes.
    let _registration = {
        let mut tx = state.db.begin_write().await.expect("begin");
        let (registration, _) =
            nugate::db::packages::ensure_registration(
                &mut tx,
                "Bench.Relist",
                nugate::db::now(),
                None,
            )
                .await
                .expect("registration");
        nugate::db::packages::add_owner(&mut tx, registration.id, user.id, nugate::db::now())
            .await
            .expect("owner");
        nugate::db::packages::insert_version(
            &mut tx,
            &nugate::db::packages::NewPackageVersion {
                registration_id: registration.id,
                version: "1.0.0",
                full_version: "1.0.0",
                is_prerelease: false,
                is_semver2: false,
                title: None,
                description: "relist benchmark",
                summary: None,
                authors: "bench",
                tags: "",
                package_types: "",
                metadata_json: "{}",
                package_hash: "",
                package_size: 0,
                published_at: nugate::db::now(),
                pushed_by: Some(user.id),
            listed: true,
                dependency_ids: "  ",
            },
        )
        .await
        .expect("version");
        tx.commit().await.expect("commit");
        registration
    };
    let mut listed = false;
    macro_rules! relist_loop {
        ($keyed:expr) => {{
            let mut once = || {
                listed = !listed;
                let (state, plaintext, listed, user) = (&state, &plaintext, listed, &user);
                async move {
                    if $keyed {
                        let key = state.keys.check(plaintext, None, KeyUse::Api).await.expect("authenticate");
                        state
                            .packages
                            .set_listed_with_key(&key, "Bench.Relist", "1.0.0", listed)
                            .await
                            .expect("set_listed_with_key");
                    } else {
                        state
                            .packages
                            .set_listed_as(&user, "Bench.Relist", "1.0.0", listed)
                            .await
                            .expect("set_listed_as");
                    }
                }
            };
            for _ in 0..100 {
                once().await;
            }
            let (cpu0, t0) = (cpu_seconds(), Instant::now());
            let mut n = 0u64;
            while t0.elapsed() < budget {
                for _ in 0..50 {
                    once().await;
                }
                n += 50;
            }
            let (wall, cpu) = (t0.elapsed().as_secs_f64(), cpu_seconds() - cpu0);
            Sample { iterations: n, wall_us: wall * 1e6 / n as f64, cpu_us: cpu * 1e6 / n as f64 }
        }};
    }
    let relist_unkeyed = relist_loop!(false);
    let relist_keyed = relist_loop!(true);

    // Where authenticate's time goes: its joined lookup alone, and the last-used touch it skips while fresh.
    let pool = state.db.pool();
    let now = nugate::db::now();
    macro_rules! step {
        ($e:expr) => {{
            for _ in 0..200 {
                black_box($e.await.expect("statement"));
            }
            let (cpu0, t0) = (cpu_seconds(), Instant::now());
            let mut n = 0u64;
            while t0.elapsed() < budget / 3 {
                for _ in 0..100 {
                    black_box($e.await.expect("statement"));
                }
                n += 100;
            }
            let (wall, cpu) = (t0.elapsed().as_secs_f64(), cpu_seconds() - cpu0);
            Sample { iterations: n, wall_us: wall * 1e6 / n as f64, cpu_us: cpu * 1e6 / n as f64 }
        }};
    }
    let key_select = step!(nugate::db::keys::with_owner_by_lookup_id(pool, &row.lookup_id));
    // The last-used touch as authenticate issues it within the interval: an UPDATE matching no row.
    let touch = step!(nugate::db::keys::touch_last_used(pool, row.id, now, nugate::auth::keys::LAST_USED_INTERVAL_SECS));

    println!(
        "{{{}, {}, {}, {}, {}, {}}}",
        json("pure", &pure),
        json("authenticate", &full),
        json("step_key_select", &key_select),
        json("step_touch_update", &touch),
        json("relist_unkeyed", &relist_unkeyed),
        json("relist_keyed", &relist_keyed)
    );
}
