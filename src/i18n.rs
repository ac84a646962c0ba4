//! The message catalogue: what people read — e-mails and the pages under `/r/` — in English
//! and Hindi (the payment QRs serve Indian merchants), from Fluent files in `locales/`
//! compiled into the binary.
//!
//! An account's `locale` setting picks the language of its e-mails and of its codes' pages
//! (landing, paused, expired, password); pages that speak for the service rather than an
//! account (an unknown or blocked code, a refused lookup, the abuse report form) follow the
//! visitor's `Accept-Language`. A message missing from a catalogue falls back to English, and a test
//! keeps the catalogues' message ids the same.

use std::borrow::Cow;
use std::sync::LazyLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};

/// A language there is a catalogue for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    En,
    Hi,
}

const CATALOGUES: [(Lang, &str, &str); 2] = [
    (Lang::En, "en", include_str!("../locales/en.ftl")),
    (Lang::Hi, "hi", include_str!("../locales/hi.ftl")),
];

impl Lang {
    /// The catalogue for a stored locale (`hi`, `hi-IN` → Hindi); English for every other.
    pub fn from_tag(tag: &str) -> Lang {
        let primary = tag.split(['-', '_']).next().unwrap_or("");
        CATALOGUES
            .iter()
            .find(|(_, t, _)| primary.eq_ignore_ascii_case(t))
            .map_or(Lang::En, |(l, _, _)| *l)
    }

    /// The visitor's preferred language among ours, from an `Accept-Language` header
    /// (highest `q` first; English when none of ours is named).
    pub fn negotiate(accept_language: Option<&str>) -> Lang {
        let mut best: Option<(f32, Lang)> = None;
        for item in accept_language.unwrap_or("").split(',') {
            let mut parts = item.split(';');
            let tag = parts.next().unwrap_or("").trim();
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let primary = tag.split(['-', '_']).next().unwrap_or("");
            let Some((lang, _, _)) = CATALOGUES
                .iter()
                .find(|(_, t, _)| primary.eq_ignore_ascii_case(t))
            else {
                continue;
            };
            if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, *lang));
            }
        }
        best.map_or(Lang::En, |(_, l)| l)
    }

    /// The language tag for `<html lang>`.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Hi => "hi",
        }
    }

    /// The message `id`, formatted with `args`; English when this catalogue lacks it, the id
    /// itself when no catalogue has it (a test keeps that from shipping).
    pub fn t(self, id: &str, args: &[(&str, FluentValue<'_>)]) -> String {
        let mut fluent_args = FluentArgs::new();
        for (k, v) in args {
            fluent_args.set(*k, v.clone());
        }
        [self, Lang::En]
            .into_iter()
            .find_map(|l| format(l, id, &fluent_args))
            .map_or_else(|| id.to_owned(), Cow::into_owned)
    }

    /// A message without arguments.
    pub fn text(self, id: &str) -> String {
        self.t(id, &[])
    }
}

fn format<'a>(lang: Lang, id: &str, args: &FluentArgs<'_>) -> Option<Cow<'a, str>> {
    let bundle = &BUNDLES[lang as usize];
    let pattern = bundle.get_message(id)?.value()?;
    let mut errors = Vec::new();
    let out = bundle.format_pattern(pattern, Some(args), &mut errors);
    if !errors.is_empty() {
        tracing::warn!(
            id,
            lang = lang.tag(),
            ?errors,
            "message formatted with errors"
        );
    }
    Some(Cow::Owned(out.into_owned()))
}

static BUNDLES: LazyLock<Vec<FluentBundle<FluentResource>>> = LazyLock::new(|| {
    CATALOGUES
        .iter()
        .map(|(_, tag, source)| {
            let id = tag.parse().unwrap_or_default();
            let mut bundle = FluentBundle::new_concurrent(vec![id]);
            // No Unicode isolation marks around arguments: the output is e-mail and HTML in
            // left-to-right scripts, where the marks only show up as stray characters.
            bundle.set_use_isolating(false);
            // A catalogue that does not parse is a build defect, caught by the tests below.
            let resource = FluentResource::try_new((*source).to_owned()).unwrap_or_else(|(r, _)| r);
            let _ = bundle.add_resource(resource);
            bundle
        })
        .collect()
});

/// An argument for [`Lang::t`].
pub fn arg<'a>(v: impl Into<FluentValue<'a>>) -> FluentValue<'a> {
    v.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(source: &str) -> std::collections::BTreeSet<String> {
        let resource = FluentResource::try_new(source.to_owned())
            .unwrap_or_else(|(_, errors)| panic!("the catalogue does not parse: {errors:?}"));
        resource
            .entries()
            .filter_map(|e| match e {
                fluent_syntax::ast::Entry::Message(m) => Some(m.id.name.to_owned()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn catalogues_parse_and_hold_the_same_messages() {
        let en = ids(CATALOGUES[0].2);
        let hi = ids(CATALOGUES[1].2);
        assert!(en.len() > 50, "{}", en.len());
        assert_eq!(
            en.difference(&hi).collect::<Vec<_>>(),
            Vec::<&String>::new(),
            "missing in hi"
        );
        assert_eq!(
            hi.difference(&en).collect::<Vec<_>>(),
            Vec::<&String>::new(),
            "missing in en"
        );
    }

    #[test]
    fn messages_format_with_arguments_and_fall_back() {
        let name = [("name", arg("Menu"))];
        assert_eq!(Lang::En.t("page-paused-heading", &name), "Menu is paused");
        assert_eq!(Lang::Hi.t("page-paused-heading", &name), "Menu रोका गया है");
        assert_eq!(Lang::Hi.text("no-such-message"), "no-such-message");
    }

    #[test]
    fn languages_from_settings_and_headers() {
        assert_eq!(Lang::from_tag("hi-IN"), Lang::Hi);
        assert_eq!(Lang::from_tag("en-GB"), Lang::En);
        assert_eq!(Lang::from_tag("de"), Lang::En);
        assert_eq!(Lang::negotiate(Some("hi-IN,hi;q=0.9,en;q=0.8")), Lang::Hi);
        assert_eq!(Lang::negotiate(Some("de-DE,en;q=0.5,hi;q=0.7")), Lang::Hi);
        assert_eq!(Lang::negotiate(Some("en-US,hi;q=0.2")), Lang::En);
        assert_eq!(Lang::negotiate(Some("hi;q=0")), Lang::En);
        assert_eq!(Lang::negotiate(Some("garbage;;;q=x")), Lang::En);
        assert_eq!(Lang::negotiate(None), Lang::En);
    }
}
