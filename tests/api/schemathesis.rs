//! schemathesis (a Python tool) against the served OpenAPI document: every
//! operation, reads and an admin's writes, on PostgreSQL as production runs.
//! It fails on a 5xx, a response or status code the document does not
//! describe, and a request the document forbids that the server accepts.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::cli::{serve, storefront};
use crate::support::store::{TestDatabase, redis_url};

/// The version this test was validated with (scripts/install-test-tools.sh
/// installs it): another may generate other cases and run other checks.
const VERSION: &str = "4.32.5";

/// A run takes 20 to 30 s, with other tests running; this stops a hung one.
const LIMIT: Duration = Duration::from_secs(120);

/// One line: what is wrong, and how to install the validated version.
fn install_hint(problem: &str) -> String {
    format!(
        "{problem}: run scripts/install-test-tools.sh, or `python3 -m venv ~/.cache/storefront-venv && \
         ~/.cache/storefront-venv/bin/pip install schemathesis=={VERSION}`, or set STOREFRONT_SCHEMATHESIS to its `st`"
    )
}

/// `$STOREFRONT_SCHEMATHESIS`, else the venv's `st`, else `st` on PATH.
fn schemathesis_cli() -> PathBuf {
    if let Some(path) = std::env::var_os("STOREFRONT_SCHEMATHESIS") {
        return path.into();
    }
    let venv = std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache/storefront-venv/bin/st"));
    let on_path = std::env::var_os("PATH").into_iter().flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>());
    venv.into_iter()
        .chain(on_path.map(|dir| dir.join("st")))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{}", install_hint("schemathesis is not installed")))
}

#[test]
fn schemathesis_finds_nothing() {
    let script = include_str!("../../scripts/install-test-tools.sh");
    assert!(script.contains(&format!("\nversion={VERSION}\n")), "the install script pins another version");
    let st = schemathesis_cli();
    // Another program may be called `st`: ask it what it is.
    let version = Command::new(&st).arg("--version").output().ok().filter(|o| o.status.success());
    let version = version.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned()).unwrap_or_default();
    assert!(version.starts_with("st, version "), "{}", install_hint(&format!("{} is not schemathesis", st.display())));
    if version != format!("st, version {VERSION}") {
        eprintln!("note: this test was validated with schemathesis {VERSION}; {} is {version}", st.display());
    }

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let db = runtime.block_on(TestDatabase::create());
    let redis = redis_url();
    let env =
        [("DATABASE_URL", db.url.as_str()), ("REDIS_URL", redis.as_str()), ("STOREFRONT_PASSWORD", "ops password")];
    let run = |args: &[&str]| {
        let out = storefront(&env, args).output().expect("storefront runs");
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    run(&["user", "create", "--email", "ops@example.com", "--admin"]);
    let printed = run(&["token", "create", "--email", "ops@example.com"]);
    let token = printed.lines().find(|l| l.starts_with("sft_")).expect("a token").to_owned();
    let served = serve(&env, &["serve", "--demo"]);

    // Its cache (.schemathesis) and Hypothesis' files go to a directory of
    // the test's own, where no schemathesis.toml can change the run either.
    let dir = tempfile::tempdir().expect("temp dir");
    let output = dir.path().join("output.txt");
    let log = std::fs::File::create(&output).expect("output file");
    let started = Instant::now();
    let mut child = Command::new(&st)
        .current_dir(dir.path())
        .args(["run", &format!("{}/api/openapi.json", served.address)])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(["--checks", "all"])
        // positive_data_acceptance wants every schema-valid request accepted,
        // but validity here also depends on the data (category_id must name
        // an existing category) and on a rule across parameters (min_price
        // <= max_price), which JSON Schema cannot express: those requests get
        // their documented 400. Its error feedback also reads our
        // {"detail", "errors"} bodies as DRF field errors and then adds an
        // `errors` property to bodies it calls valid.
        // ensure_resource_availability wants what a POST created readable
        // at once, but a product created with is_active false is, by
        // design and as in the seed's DRF API, not there for the public
        // read: its 404 is the right answer.
        .args(["--exclude-checks", "positive_data_acceptance,ensure_resource_availability"])
        // About 1,500 requests; one worker and a seed make the run repeatable.
        .args(["--max-examples", "50", "--seed", "1", "--workers", "1"])
        .args(["--request-timeout", "20", "--generation-database", "none", "--no-color"])
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("output file"))
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("{}", install_hint(&format!("{} does not start ({e})", st.display()))));
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let printed = std::fs::read_to_string(&output).unwrap_or_default();
    match status {
        Some(s) => assert!(s.success(), "schemathesis found problems ({s}):\n{printed}"),
        None => panic!("schemathesis took more than {LIMIT:?}:\n{printed}"),
    }
    eprintln!("schemathesis passed in {:.1} s", started.elapsed().as_secs_f64());
}
