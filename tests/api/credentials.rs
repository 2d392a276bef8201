//! Credentials at the edge: one address is one account whatever Unicode
//! form it is typed in.

use reqwest::StatusCode;
use sea_orm::{EntityTrait, PaginatorTrait};
use storefront::models::_entities::user;

use crate::accounts::Visitor;
use crate::helpers::TestApp;
use crate::on_both_backends;

async fn accounts(app: &TestApp) -> u64 {
    user::Entity::find().count(&app.db).await.expect("count users")
}

on_both_backends! {
    async fn a_fullwidth_or_invisible_variant_of_an_email_is_not_a_second_account(app: TestApp) {
        let first = Visitor::new(&app);
        assert_eq!(first.register("s@x.test", "correct horse").await.status(), StatusCode::SEE_OTHER);
        assert_eq!(accounts(&app).await, 1);

        // Fullwidth `ｓ` is `s`: the address is taken. (What a taken address
        // answers is the registration page's business; no account is made.)
        let other = Visitor::new(&app);
        other.register("\u{ff53}@x.test", "another horse").await;
        assert_eq!(accounts(&app).await, 1);

        // A zero-width space is refused, with the field's message.
        let r = other.register("s\u{200b}@x.test", "another horse").await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(r.text().await.unwrap().contains("Enter a valid email address."));
        assert_eq!(accounts(&app).await, 1);

        // The login form reads addresses the same way.
        let r = other.login("s\u{200b}@x.test", "correct horse").await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(other.signed_in_as().await, None);
        let r = other.login("\u{ff33}@x.test", "correct horse").await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(other.signed_in_as().await.as_deref(), Some("s@x.test"));
    }
}
