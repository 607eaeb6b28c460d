//! Clinical notes' Markdown as safe structure. Real notes (Synthea's among them) are written in
//! Markdown: headings, lists, paragraphs. They are shown as that structure, and nothing the
//! sender wrote ever becomes HTML of its own: raw HTML is shown as text, links lose their
//! address (a note's link could lead anywhere), images are replaced by their description.
//! SNOMED CT semantic tags that coded names carried into the text are left out of the words.

use crate::pages::words::without_semantic_tags;
use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};

/// The heading level a note's own top-level heading is shown at: notes sit under the page's
/// `h1`, its "Visit notes" `h2` and the note's `h3` title.
const FIRST_LEVEL: usize = 4;

/// A note's Markdown as HTML safe to put on a page.
pub fn note_html(markdown: &str) -> String {
    let parser = Parser::new_ext(
        markdown,
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH,
    );
    let events = parser.filter_map(|event| match event {
        // Anything the sender wrote as HTML is shown as the text it is.
        Event::Html(text) | Event::InlineHtml(text) => Some(Event::Text(text)),
        Event::Start(Tag::Heading { level, .. }) => Some(Event::Start(Tag::Heading {
            level: shifted(level),
            id: None,
            classes: Vec::new(),
            attrs: Vec::new(),
        })),
        Event::End(TagEnd::Heading(level)) => Some(Event::End(TagEnd::Heading(shifted(level)))),
        // Links and images keep their words, never their addresses.
        Event::Start(Tag::Link { .. }) | Event::End(TagEnd::Link) => None,
        Event::Start(Tag::Image { .. }) | Event::End(TagEnd::Image) => None,
        Event::FootnoteReference(text) => Some(Event::Text(text)),
        // Notes written from coded data carry SNOMED CT's semantic tags; people read without.
        Event::Text(text) => Some(Event::Text(without_semantic_tags(&text).into())),
        Event::TaskListMarker(done) => Some(Event::Text(if done { "[x] " } else { "[ ] " }.into())),
        other => Some(other),
    });
    let mut html = String::with_capacity(markdown.len() + markdown.len() / 4);
    pulldown_cmark::html::push_html(&mut html, events);
    html
}

/// A note's heading level, moved under the page's own headings (never past `h6`).
fn shifted(level: HeadingLevel) -> HeadingLevel {
    let depth = level as usize + FIRST_LEVEL - 1;
    match depth {
        ..=4 => HeadingLevel::H4,
        5 => HeadingLevel::H5,
        _ => HeadingLevel::H6,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headings_and_lists_become_structure_under_the_page() {
        let html = note_html("# Chief Complaint\nNo complaints.\n\n## Plan\n- rest\n- fluids\n");
        assert!(html.contains("<h4>Chief Complaint</h4>"), "{html}");
        assert!(html.contains("<h5>Plan</h5>"), "{html}");
        assert!(html.contains("<li>rest</li>"), "{html}");
        assert!(html.contains("<p>No complaints.</p>"), "{html}");
    }

    #[test]
    fn html_in_a_note_is_shown_as_text() {
        let html = note_html("Seen today <script>alert(1)</script>\n\n<div onclick=x>hi</div>\n");
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<div"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{html}"
        );
    }

    #[test]
    fn links_and_images_keep_their_words_not_their_addresses() {
        let html =
            note_html("See [the plan](javascript:alert(1)) and ![an x-ray](http://evil/x.png)");
        assert!(!html.contains("javascript"), "{html}");
        assert!(!html.contains("evil"), "{html}");
        assert!(!html.contains("<a") && !html.contains("<img"), "{html}");
        assert!(
            html.contains("the plan") && html.contains("an x-ray"),
            "{html}"
        );
    }

    #[test]
    fn terminology_tags_are_left_out_of_the_words() {
        let html = note_html("- Hyperlipidemia (disorder)\n- Hepatitis (B) screen\n");
        assert!(html.contains("<li>Hyperlipidemia</li>"), "{html}");
        assert!(html.contains("<li>Hepatitis (B) screen</li>"), "{html}");
    }

    #[test]
    fn deep_headings_stop_at_h6() {
        let html = note_html("###### Deep\n");
        assert!(html.contains("<h6>Deep</h6>"), "{html}");
    }
}
