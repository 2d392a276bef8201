//! The scenario macros: one test body run on each backend, and on each
//! backend with each shared session store. Exported at the crate root, so a
//! module calls `on_both_backends! { ... }` after `use crate::on_both_backends`.

/// Runs a scenario once on each backend: `mod name { fn sqlite; fn postgres }`.
#[macro_export]
macro_rules! on_both_backends {
    // The test that runs the module's `scenario` on one backend.
    (@test $test:ident, $backend:ident) => {
        #[tokio::test]
        async fn $test() {
            scenario($crate::support::TestApp::spawn($crate::support::Backend::$backend).await).await
        }
    };
    ($(async fn $name:ident($app:ident: TestApp) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;
                async fn scenario($app: $crate::support::TestApp) $body
                $crate::on_both_backends!(@test sqlite, Sqlite);
                $crate::on_both_backends!(@test postgres, Postgres);
            }
        )*
    };
}

/// Runs a scenario on each backend with each shared session store:
/// Redis (`sqlite`, `postgres`) and the shop's own database
/// (`sqlite_database_store`, `postgres_database_store`, whose session Redis
/// is an address where nothing listens, so nothing of the session can
/// come from there).
#[macro_export]
macro_rules! on_both_backends_and_stores {
    // The test that runs the module's `scenario` on one backend, with the
    // sessions in its database.
    (@database_store $test:ident, $backend:ident) => {
        #[tokio::test]
        async fn $test() {
            let app = $crate::support::TestApp::spawn_configured(
                $crate::support::Backend::$backend,
                $crate::support::store::database_store,
            );
            scenario(app.await).await
        }
    };
    ($(async fn $name:ident($app:ident: TestApp) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;
                async fn scenario($app: $crate::support::TestApp) $body
                $crate::on_both_backends!(@test sqlite, Sqlite);
                $crate::on_both_backends!(@test postgres, Postgres);
                $crate::on_both_backends_and_stores!(@database_store sqlite_database_store, Sqlite);
                $crate::on_both_backends_and_stores!(@database_store postgres_database_store, Postgres);
            }
        )*
    };
}
