//! Product images: uploads through the API and the admin's form, every
//! refusal as a field error, the files made (widths, formats, no metadata)
//! and how they are served, the pictures on cards and product pages, and a
//! gallery change reaching pages that were cached.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, RgbImage};
use reqwest::StatusCode;
use scraper::{Html, Selector};
use serde_json::Value;

use crate::on_both_backends;
use crate::support::TestApp;
use crate::support::api::token_for;
use crate::support::cache::x_cache;
use crate::support::visitor::{Visitor, admin, csrf_in};

const BOUNDARY: &str = "storefront-test-boundary-5f1c";

/// A picture `width` by `height` that is not flat, so every variant differs.
fn picture(width: u32, height: u32, seed: u8) -> DynamicImage {
    DynamicImage::ImageRgb8(RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 251) as u8 ^ seed, (y % 241) as u8, ((x + y) % 239) as u8])
    }))
}

fn encoded(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, format).unwrap();
    out.into_inner()
}

fn png(width: u32, height: u32, seed: u8) -> Vec<u8> {
    encoded(&picture(width, height, seed), ImageFormat::Png)
}

/// A multipart body of `files` (field, file name, bytes) and `texts`, and
/// its content type.
fn multipart(files: &[(&str, &str, &[u8])], texts: &[(&str, &str)]) -> (String, Vec<u8>) {
    let mut body = Vec::new();
    for (name, value) in texts {
        body.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    }
    for (name, file_name, bytes) in files {
        body.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={BOUNDARY}"), body)
}

/// POSTs `files` as `image` parts to the API's upload for product `id`.
async fn api_upload(app: &TestApp, token: &str, id: i32, files: &[(&str, &[u8])]) -> (StatusCode, Value) {
    let files: Vec<(&str, &str, &[u8])> = files.iter().map(|(n, b)| ("image", *n, *b)).collect();
    let (content_type, body) = multipart(&files, &[]);
    let r = app
        .client
        .post(app.url(&format!("/api/products/{id}/images/")))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The path part of an absolute URL the API gave.
fn path_of(url: &Value) -> String {
    let url = url.as_str().unwrap();
    url[url.find("/media/").unwrap()..].to_owned()
}

/// CRC-32 (IEEE), as PNG chunks carry it.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for byte in bytes {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// A small PNG whose header claims `width` by `height`: a decompression
/// bomb's shape, refused before any pixel is decoded.
fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = png(2, 2, 0);
    bytes[16..20].copy_from_slice(&width.to_be_bytes());
    bytes[20..24].copy_from_slice(&height.to_be_bytes());
    let crc = crc32(&bytes[12..29]);
    bytes[29..33].copy_from_slice(&crc.to_be_bytes());
    bytes
}

/// A JPEG with an EXIF segment carrying `marker` (as a camera writes GPS).
fn jpeg_with_exif(marker: &str) -> Vec<u8> {
    let jpeg = encoded(&picture(400, 300, 9), ImageFormat::Jpeg);
    let mut payload = b"Exif\0\0MM\0*\0\0\0\x08\0\0\0\0\0\0".to_vec();
    payload.extend_from_slice(marker.as_bytes());
    let length = u16::try_from(payload.len() + 2).unwrap();
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xff, 0xe1]);
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(&payload);
    out.extend_from_slice(&jpeg[2..]);
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

on_both_backends! {
    async fn an_api_upload_is_served_at_each_width_it_fills_in_both_formats(app: TestApp) {
        let token = token_for(&app, "root@example.com", true).await;
        let p = app.fixture.product("Steel Laptop 13").id;
        let (status, body) = api_upload(&app, &token, p, &[("big.png", &png(1400, 1050, 1))]).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let image = &body["images"][0];
        assert_eq!((image["position"].as_i64(), image["width"].as_i64(), image["height"].as_i64()), (Some(0), Some(1400), Some(1050)));
        let widths: Vec<i64> = image["variants"].as_array().unwrap().iter().map(|v| v["width"].as_i64().unwrap()).collect();
        assert_eq!(widths, [320, 640, 1280]);
        for variant in image["variants"].as_array().unwrap() {
            let width = variant["width"].as_u64().unwrap() as u32;
            for (key, format, content_type) in [("webp", ImageFormat::WebP, "image/webp"), ("jpeg", ImageFormat::Jpeg, "image/jpeg")] {
                let path = path_of(&variant[key]);
                let r = app.get(&path).await;
                assert_eq!(r.status(), 200, "{path}");
                assert_eq!(r.headers()["content-type"], content_type, "{path}");
                assert_eq!(r.headers()["cache-control"], "public, max-age=31536000, immutable", "{path}");
                let etag = r.headers()["etag"].to_str().unwrap().to_owned();
                assert_eq!(etag, format!("\"{}\"", &path["/media/".len()..]), "{path}");
                let decoded = image::load_from_memory_with_format(&r.bytes().await.unwrap(), format).unwrap();
                assert_eq!((decoded.width(), decoded.height()), (width, width * 3 / 4), "{path}");
                let again = app.get_with_header(&path, "if-none-match", &etag).await;
                assert_eq!(again.status(), 304, "{path}");
                assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);
                assert_eq!(again.headers()["cache-control"], "public, max-age=31536000, immutable");
            }
        }

        // Never wider than the original: a 700 wide one has no 1280, a
        // 200 wide one only its own width.
        let (status, body) = api_upload(&app, &token, p, &[("mid.png", &png(700, 350, 2)), ("small.png", &png(200, 100, 3))]).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let images = body["images"].as_array().unwrap();
        assert_eq!(images.len(), 3, "added after the first");
        let widths = |i: usize| -> Vec<i64> { images[i]["variants"].as_array().unwrap().iter().map(|v| v["width"].as_i64().unwrap()).collect() };
        assert_eq!((widths(1), widths(2)), (vec![320, 640], vec![200]));
        let mid = path_of(&images[1]["variants"][1]["webp"]);
        assert_eq!(app.get(&mid.replace("-640.webp", "-1280.webp")).await.status(), 404, "never made");
        assert_eq!(app.get(&path_of(&images[2]["variants"][0]["jpeg"])).await.status(), 200);

        // Nothing but a name that parses reaches the disk.
        let hash = &mid["/media/".len().."/media/".len() + 32];
        for bad in [
            "/media/../Cargo.toml".to_owned(),
            "/media/..%2F..%2FCargo.toml".to_owned(),
            "/media/%2e%2e%2fCargo.toml".to_owned(),
            format!("/media/{hash}-640.png"),
            format!("/media/{}-640.webp", hash.to_uppercase()),
            format!("/media/{hash}-0640.webp"),
            format!("/media/{hash}-640.webp.jpg"),
            format!("/media/{}-640.webp", "0".repeat(32)),
            format!("/media/{hash}%2F..%2F{hash}-640.webp"),
        ] {
            let r = app.get(&bad).await;
            assert_eq!(r.status(), 404, "{bad}");
            assert_ne!(r.headers()["cache-control"], "public, max-age=31536000, immutable", "{bad}");
        }
    }

    async fn every_bad_file_is_a_400_with_a_message_for_its_field(app: TestApp) {
        let token = token_for(&app, "root@example.com", true).await;
        let p = app.fixture.product("Steel Laptop 13").id;
        let whole = png(300, 200, 4);
        let webp = encoded(&picture(300, 200, 5), ImageFormat::WebP);
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            ("notes.png", b"just some text, named like an image".to_vec(), "not an image"),
            ("anim.gif", b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;".to_vec(), "GIF images are not accepted"),
            ("cut.png", whole[..whole.len() / 2].to_vec(), "damaged or incomplete"),
            ("cut.webp", webp[..webp.len() / 2].to_vec(), "damaged or incomplete"),
            ("empty.png", Vec::new(), "empty"),
            ("huge.png", vec![7u8; 10 * 1024 * 1024 + 1], "larger than 10 MB"),
            ("bomb.png", png_claiming(30_000, 30_000), "too large"),
            ("wide.png", png_claiming(13_000, 10), "too large"),
        ];
        for (name, bytes, message) in &cases {
            let (status, body) = api_upload(&app, &token, p, &[(name, bytes)]).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{name}: {body}");
            assert_eq!(body["detail"], "Invalid input.", "{name}");
            let said = body["errors"]["image"][0].as_str().unwrap_or_default();
            assert!(said.starts_with(&format!("{name}: ")) && said.contains(message), "{name}: {said}");
        }
        // One bad file refuses the lot.
        let (status, _) = api_upload(&app, &token, p, &[("good.png", &whole), ("notes.png", b"text")]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, body) = api_upload(&app, &token, p, &[]).await;
        assert_eq!((status, body["errors"]["image"][0].as_str()), (StatusCode::BAD_REQUEST, Some("Choose one or more images.")));
        // Not multipart at all.
        let url = app.url(&format!("/api/products/{p}/images/"));
        let r = app.client.post(&url).bearer_auth(&token).json(&serde_json::json!({"image": "x"})).send().await.unwrap();
        assert_eq!(r.status(), 400);
        assert!(r.json::<Value>().await.unwrap()["errors"]["body"].is_array());
        // Who may, and of what.
        assert_eq!(api_upload(&app, "sft_nonsense", p, &[("a.png", &whole)]).await.0, StatusCode::UNAUTHORIZED);
        let shopper = token_for(&app, "shopper@example.com", false).await;
        assert_eq!(api_upload(&app, &shopper, p, &[("a.png", &whole)]).await.0, StatusCode::FORBIDDEN);
        let (status, body) = api_upload(&app, &token, 987_654, &[("a.png", &whole)]).await;
        assert_eq!((status, body["detail"].as_str()), (StatusCode::NOT_FOUND, Some("No Product matches the given query.")));
        // A body over the upload limit: 413 in the API's shape, declared or not.
        let (content_type, big) = multipart(&[("image", "a.png", &vec![0u8; 33 * 1024 * 1024])], &[]);
        let r = app.client.post(&url).bearer_auth(&token).header("content-type", &content_type).body(big.clone()).send().await;
        if let Ok(r) = r {
            assert_eq!(r.status(), 413);
            assert_eq!(r.json::<Value>().await.unwrap()["detail"], "The request body is larger than 32 MiB.");
        }
        let chunks = futures_util::stream::iter(big.chunks(64 * 1024).map(|c| Ok::<_, std::io::Error>(c.to_vec())).collect::<Vec<_>>());
        let r = app.client.post(&url).bearer_auth(&token).header("content-type", &content_type).body(reqwest::Body::wrap_stream(chunks)).send().await.unwrap();
        assert_eq!(r.status(), 413);
        assert_eq!(r.json::<Value>().await.unwrap()["detail"], "The request body is larger than 32 MiB.");
        // Nothing was added through all that.
        let page = app.get_product_page(&app.fixture.product("Steel Laptop 13").slug, 200).await;
        assert!(!page.contains("<picture"), "{page}");
    }

    async fn what_a_camera_wrote_is_gone_from_the_served_files(app: TestApp) {
        let token = token_for(&app, "root@example.com", true).await;
        let p = app.fixture.product("Steel Laptop 13").id;
        let upload = jpeg_with_exif("GPS 59.9139 N 10.7522 E");
        assert!(contains(&upload, b"Exif\0\0") && contains(&upload, b"GPS 59.9139"), "the upload carries EXIF");
        let (status, body) = api_upload(&app, &token, p, &[("camera.jpg", &upload)]).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        for variant in body["images"][0]["variants"].as_array().unwrap() {
            for key in ["webp", "jpeg"] {
                let served = app.get(&path_of(&variant[key])).await.bytes().await.unwrap();
                assert!(!contains(&served, b"Exif") && !contains(&served, b"GPS 59.9139"), "{key}: metadata left in");
                assert!(!contains(&served, b"EXIF"), "{key}: no EXIF chunk");
            }
        }
    }

    async fn pages_show_pictures_with_srcset_and_a_placeholder_without(app: TestApp) {
        let token = token_for(&app, "root@example.com", true).await;
        let steel = app.fixture.product("Steel Laptop 13").clone();
        let (status, body) = api_upload(&app, &token, steel.id, &[("a.png", &png(1400, 700, 6)), ("b.png", &png(900, 900, 7))]).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let page = app.get_product_page(&steel.slug, 200).await;
        let doc = Html::parse_document(&page);
        let pictures: Vec<_> = doc.select(&Selector::parse(".gallery picture").unwrap()).collect();
        assert_eq!(pictures.len(), 2, "every image, in order");
        for (i, picture) in pictures.iter().enumerate() {
            let source = picture.select(&Selector::parse("source").unwrap()).next().unwrap().value();
            let img = picture.select(&Selector::parse("img").unwrap()).next().unwrap().value();
            assert_eq!(source.attr("type"), Some("image/webp"));
            let webp = source.attr("srcset").unwrap();
            let jpeg = img.attr("srcset").unwrap();
            let expect = if i == 0 { ["320w", "640w", "1280w"].as_slice() } else { ["320w", "640w"].as_slice() };
            for w in expect {
                assert!(webp.contains(&format!(".webp {w}")) && jpeg.contains(&format!(".jpg {w}")), "{webp} / {jpeg}");
            }
            assert!(img.attr("sizes").is_some());
            let (width, height) = (img.attr("width").unwrap(), img.attr("height").unwrap());
            assert_eq!((width, height), if i == 0 { ("1280", "640") } else { ("640", "640") });
            assert!(img.attr("alt").unwrap().starts_with(&steel.name));
            assert_eq!(img.attr("loading"), if i == 0 { None } else { Some("lazy") }, "only images after the first wait");
        }
        let first = body["images"][0]["variants"][0]["webp"].as_str().unwrap();
        assert!(page.find(&path_of(&Value::from(first))).unwrap() < page.find(&path_of(&body["images"][1]["variants"][0]["webp"])).unwrap());

        // Cards: a picture for the product that has one, a placeholder of the
        // same box for the others; lazy beyond the first row.
        let listing = app.get_html("/categories/computers?per_page=12", 200).await;
        let doc = Html::parse_document(&listing);
        let cards: Vec<_> = doc.select(&Selector::parse(".product-card").unwrap()).collect();
        assert!(cards.len() > 4, "the fixture fills more than a row");
        let img = Selector::parse(".product-image picture img").unwrap();
        let placeholder = Selector::parse(".product-image svg.placeholder").unwrap();
        let mut pictured = 0;
        for (i, card) in cards.iter().enumerate() {
            let name = card.select(&Selector::parse(".product-name").unwrap()).next().unwrap().text().collect::<String>();
            match card.select(&img).next() {
                Some(img) => {
                    pictured += 1;
                    assert_eq!(name, steel.name);
                    assert_eq!(img.value().attr("alt"), Some(steel.name.as_str()));
                    assert!(img.value().attr("width").is_some() && img.value().attr("height").is_some());
                    assert_eq!(img.value().attr("loading"), if i < 4 { None } else { Some("lazy") }, "card {i}");
                }
                None => {
                    let svg = card.select(&placeholder).next().unwrap_or_else(|| panic!("card {i} has neither"));
                    assert!(svg.value().attr("aria-label").unwrap().starts_with(&name));
                }
            }
        }
        assert_eq!(pictured, 1);
        let other = app.fixture.product("Gaming Laptop");
        let page = app.get_product_page(&other.slug, 200).await;
        assert!(!page.contains("<picture") && page.contains("class=\"placeholder\""), "{page}");
    }

    async fn a_gallery_change_shows_at_once_on_pages_that_were_cached(app: TestApp) {
        let token = token_for(&app, "root@example.com", true).await;
        let steel = app.fixture.product("Steel Laptop 13").clone();
        let page = format!("/products/{}", steel.slug);
        let listing = "/categories/computers".to_owned();
        for path in [&page, &listing] {
            app.get(path).await;
            assert_eq!(x_cache(&app, path).await, "HIT", "{path}");
        }
        let (status, body) = api_upload(&app, &token, steel.id, &[("a.png", &png(800, 600, 8)), ("b.png", &png(640, 480, 9))]).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let hash = |i: usize| path_of(&body["images"][i]["variants"][0]["webp"])["/media/".len().."/media/".len() + 32].to_owned();
        let (a, b) = (hash(0), hash(1));
        let first_picture = |html: &str| {
            let doc = Html::parse_document(html);
            let found = doc.select(&Selector::parse("picture source").unwrap()).next().map(|s| s.value().attr("srcset").unwrap().to_owned());
            found.unwrap_or_default()
        };
        for path in [&page, &listing] {
            let html = app.get_html(path, 200).await;
            assert!(first_picture(&html).contains(&a), "{path}: the upload shows");
            assert_eq!(x_cache(&app, path).await, "HIT", "{path}: and is cached again");
        }
        // Moved: the second is first now.
        let moved = app.client.patch(app.url(&format!("/api/products/{}/images/{}/", steel.id, body["images"][1]["id"])))
            .bearer_auth(&token).json(&serde_json::json!({"position": 0})).send().await.unwrap();
        assert_eq!(moved.status(), 200);
        let moved: Value = moved.json().await.unwrap();
        assert_eq!(moved["images"][0]["id"], body["images"][1]["id"]);
        assert_eq!((moved["images"][0]["position"].as_i64(), moved["images"][1]["position"].as_i64()), (Some(0), Some(1)));
        for path in [&page, &listing] {
            assert!(first_picture(&app.get_html(path, 200).await).contains(&b), "{path}: the new first");
        }
        // Deleted: only the other is left.
        let second = body["images"][1]["id"].as_i64().unwrap();
        let url = app.url(&format!("/api/products/{}/images/{second}/", steel.id));
        assert_eq!(app.client.delete(&url).bearer_auth(&token).send().await.unwrap().status(), 204);
        let r = app.client.delete(&url).bearer_auth(&token).send().await.unwrap();
        assert_eq!(r.status(), 404);
        assert_eq!(r.json::<Value>().await.unwrap()["detail"], "No ProductImage matches the given query.");
        for path in [&page, &listing] {
            let html = app.get_html(path, 200).await;
            assert!(first_picture(&html).contains(&a) && !html.contains(&b), "{path}: the deleted one is gone");
        }
        // An image of another product is not this one's to move.
        let other = app.fixture.product("Gaming Laptop").id;
        let url = app.url(&format!("/api/products/{other}/images/{}/", body["images"][0]["id"]));
        let r = app.client.patch(&url).bearer_auth(&token).json(&serde_json::json!({"position": 0})).send().await.unwrap();
        assert_eq!(r.status(), 404);
        let r = app.client.patch(&url).bearer_auth(&token).json(&serde_json::json!({"position": -1})).send().await.unwrap();
        assert_eq!(r.status(), 400);
    }

    async fn anyone_reads_a_gallery_where_its_upload_says_and_never_a_stale_one(app: TestApp) {
        let token = token_for(&app, "root@example.com", true).await;
        let p = app.fixture.product("Steel Laptop 13").id;
        let path = format!("/api/products/{p}/images/");
        assert_eq!(app.get_json(&path, 200).await, serde_json::json!({"images": []}), "no images yet");
        let (a, b) = (png(400, 300, 21), png(300, 400, 22));
        let files: Vec<(&str, &str, &[u8])> = vec![("image", "a.png", &a), ("image", "b.png", &b)];
        let (content_type, upload) = multipart(&files, &[]);
        let r = app.client.post(app.url(&path)).bearer_auth(&token).header("content-type", content_type).body(upload).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let location = r.headers()["location"].to_str().unwrap().to_owned();
        let created: Value = r.json().await.unwrap();
        // Where the 201 points, the same gallery, for anyone, then cached.
        let location = &location[location.find("/api/").unwrap()..];
        assert_eq!(app.get_json(location, 200).await, created, "{location}");
        assert_eq!(x_cache(&app, &path).await, "HIT");
        // Moved and deleted through the API: never the gallery as it was.
        let second = created["images"][1]["id"].as_i64().unwrap();
        let moved = app.client.patch(app.url(&format!("{path}{second}/"))).bearer_auth(&token)
            .json(&serde_json::json!({"position": 0})).send().await.unwrap();
        let moved: Value = moved.json().await.unwrap();
        assert_eq!(app.get_json(&path, 200).await, moved);
        assert_eq!(moved["images"][0]["id"], second);
        let r = app.client.delete(app.url(&format!("{path}{second}/"))).bearer_auth(&token).send().await.unwrap();
        assert_eq!(r.status(), 204);
        let left = app.get_json(&path, 200).await;
        assert_eq!(left["images"].as_array().unwrap().len(), 1);
        assert_eq!((left["images"][0]["id"].clone(), left["images"][0]["position"].as_i64()), (created["images"][0]["id"].clone(), Some(0)));
        // A hidden product's gallery is hidden with it; a missing one is DRF's 404.
        let r = app.api_patch_product(&token, p, &serde_json::json!({"is_active": false})).await;
        assert_eq!(r.status(), 200);
        assert_eq!(app.get_json(&path, 404).await["detail"], "No Product matches the given query.");
        assert_eq!(app.get_json("/api/products/999999/images/", 404).await["detail"], "No Product matches the given query.");
        let r = app.get("/api/products/x/images/").await;
        assert!(r.status().is_client_error(), "{}", r.status());
    }

    async fn the_admin_form_uploads_moves_and_deletes_images(app: TestApp) {
        let admin = admin(&app).await;
        let steel = app.fixture.product("Steel Laptop 13").clone();
        let edit = format!("/admin/products/{}/edit", steel.id);
        let upload = format!("{}/admin/products/{}/images", app.address, steel.id);
        let post = |v: &Visitor, files: Vec<(&'static str, Vec<u8>)>, csrf: String| {
            let files: Vec<(&str, &str, Vec<u8>)> = files.into_iter().map(|(n, b)| ("images", n, b)).collect();
            let borrowed: Vec<(&str, &str, &[u8])> = files.iter().map(|(f, n, b)| (*f, *n, b.as_slice())).collect();
            let (content_type, body) = multipart(&borrowed, &[("csrf", &csrf)]);
            v.client.post(&upload).header("content-type", content_type).body(body).send()
        };
        let csrf = admin.csrf(&edit).await;
        let r = post(&admin, vec![("one.png", png(700, 500, 10)), ("two.jpg", encoded(&picture(500, 500, 11), ImageFormat::Jpeg))], csrf.clone()).await.unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers()["location"], edit.as_str());
        let page = admin.page(&edit).await;
        let doc = Html::parse_document(&page);
        let thumbs: Vec<String> = doc.select(&Selector::parse(".admin-gallery img").unwrap()).map(|i| i.value().attr("src").unwrap().to_owned()).collect();
        assert_eq!(thumbs.len(), 2, "{page}");
        assert_eq!(app.get(&thumbs[0]).await.status(), 200);
        let shop = app.get_product_page(&steel.slug, 200).await;
        assert_eq!(shop.matches("<picture").count(), 2);

        // A bad file: the form again, with the message under its field.
        let r = post(&admin, vec![("notes.png", b"hello".to_vec())], csrf.clone()).await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let html = r.text().await.unwrap();
        let errors: Vec<String> = Html::parse_document(&html).select(&Selector::parse(".field-error").unwrap()).map(|e| e.text().collect()).collect();
        assert_eq!(errors, ["notes.png: The file is not an image."], "{html}");
        // Without the form's token: refused, nothing added.
        let r = post(&admin, vec![("one.png", png(320, 240, 12))], "forged".into()).await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        // Nobody but an admin.
        let anonymous = Visitor::new(&app);
        let r = post(&anonymous, vec![("one.png", png(320, 240, 12))], csrf.clone()).await.unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert!(r.headers()["location"].to_str().unwrap().starts_with("/login"));

        // Move the second up, then delete the (new) second.
        let page = admin.page(&edit).await;
        let doc = Html::parse_document(&page);
        let forms: Vec<String> = doc.select(&Selector::parse(".admin-gallery form").unwrap()).map(|f| f.value().attr("action").unwrap().to_owned()).collect();
        let move_up = forms.iter().find(|a| a.ends_with("/move") && forms.iter().position(|x| x == *a).unwrap() > 1).unwrap().clone();
        let csrf = csrf_in(&page);
        let r = admin.post(&move_up, &[("csrf", csrf.as_str()), ("position", "0")]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let page = admin.page(&edit).await;
        let now: Vec<String> = Html::parse_document(&page).select(&Selector::parse(".admin-gallery img").unwrap()).map(|i| i.value().attr("src").unwrap().to_owned()).collect();
        assert_eq!(now, [thumbs[1].clone(), thumbs[0].clone()]);
        let delete = Html::parse_document(&page).select(&Selector::parse(".admin-gallery form").unwrap()).map(|f| f.value().attr("action").unwrap().to_owned()).filter(|a| a.ends_with("/delete")).nth(1).unwrap();
        let r = admin.post(&delete, &[("csrf", csrf.as_str())]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let shop = app.get_product_page(&steel.slug, 200).await;
        assert_eq!(shop.matches("<picture").count(), 1);
        assert!(shop.contains(&thumbs[1]) && !shop.contains(&thumbs[0]), "the moved one is the one kept");
        let r = admin.post(&delete, &[("csrf", csrf.as_str())]).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }

    async fn every_seeded_product_has_a_picture(app: TestApp) {
        use sea_orm::{EntityTrait, PaginatorTrait};
        use storefront::models::{product_entity, product_image};
        use storefront::seed::{self, SeedPlan};
        let plan = SeedPlan { categories: 4, products: 120, seed: 3 };
        seed::load(&app.db, &app.state.media, plan, true).await.expect("seeded");
        app.cache().flusher().flush().await.expect("flushed");
        let products = product_entity::Entity::find().count(&app.db).await.unwrap();
        let rows = product_image::Entity::find().all(&app.db).await.unwrap();
        assert_eq!(rows.len() as u64, products, "one picture each");
        let mut hashes: Vec<&str> = rows.iter().map(|r| r.hash.as_str()).collect();
        hashes.sort_unstable();
        hashes.dedup();
        assert_eq!(hashes.len(), 8, "two per theme, each stored once");
        for hash in hashes {
            for name in [format!("{hash}-320.webp"), format!("{hash}-640.jpg")] {
                assert_eq!(app.get(&format!("/media/{name}")).await.status(), 200, "{name}");
            }
        }
        let listing = app.get_html("/products?per_page=48", 200).await;
        assert_eq!(listing.matches("class=\"product-card\"").count(), 48);
        assert_eq!(listing.matches("<picture>").count(), 48, "no placeholder in a seeded shop");
        // The same seed draws the same pictures.
        let before: Vec<String> = product_image::Entity::find().all(&app.db).await.unwrap().into_iter().map(|r| r.hash).collect();
        seed::load(&app.db, &app.state.media, plan, true).await.expect("seeded again");
        let after: Vec<String> = product_image::Entity::find().all(&app.db).await.unwrap().into_iter().map(|r| r.hash).collect();
        assert_eq!(before, after);
    }
}
