//! Whole pages: the layout around one or more fragments. The layout is the
//! only part that may ever show who is visiting, so it is rendered per request.

use askama::Template;

use super::Fragment;

/// What the layout needs: the page title and the header's search box.
pub struct Shell {
    pub title: String,
    pub search: String,
}

impl Shell {
    pub fn new(title: impl Into<String>) -> Self {
        Shell {
            title: title.into(),
            search: String::new(),
        }
    }
}

#[derive(Template)]
#[template(path = "pages/home.html")]
pub struct HomePage {
    pub shell: Shell,
    pub categories: Fragment,
    pub newest: Fragment,
}

#[derive(Template)]
#[template(path = "pages/categories.html")]
pub struct CategoriesPage {
    pub shell: Shell,
    pub list: Fragment,
}

/// A page whose whole content is one (cached) fragment.
#[derive(Template)]
#[template(path = "pages/content.html")]
pub struct ContentPage {
    pub shell: Shell,
    pub main: Fragment,
}

#[derive(Template)]
#[template(path = "errors/error.html")]
pub struct ErrorPage {
    pub shell: Shell,
    pub status: u16,
    pub detail: String,
    pub errors: Vec<(String, Vec<String>)>,
}
