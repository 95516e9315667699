//! Interface text in Vietnamese and English from the Fluent files in `locales/`.

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use std::sync::Arc;
use vigilo_core::Lang;

const VI: &str = include_str!("../../../locales/vi/main.ftl");
const EN: &str = include_str!("../../../locales/en/main.ftl");

pub struct I18n {
    vi: FluentBundle<FluentResource>,
    en: FluentBundle<FluentResource>,
}

#[derive(Debug, thiserror::Error)]
#[error("locale file {lang} is invalid: {detail}")]
pub struct I18nError {
    lang: &'static str,
    detail: String,
}

fn bundle(lang: &'static str, src: &str) -> Result<FluentBundle<FluentResource>, I18nError> {
    let res = FluentResource::try_new(src.to_string()).map_err(|(_, errs)| I18nError {
        lang,
        detail: format!("{errs:?}"),
    })?;
    let id = lang.parse().map_err(|_| I18nError {
        lang,
        detail: "bad language id".into(),
    })?;
    let mut b = FluentBundle::new_concurrent(vec![id]);
    // No Unicode isolation marks: text goes into HTML, not mixed-direction UI.
    b.set_use_isolating(false);
    b.add_resource(res).map_err(|errs| I18nError {
        lang,
        detail: format!("{errs:?}"),
    })?;
    Ok(b)
}

impl I18n {
    pub fn load() -> Result<I18n, I18nError> {
        Ok(I18n {
            vi: bundle("vi", VI)?,
            en: bundle("en", EN)?,
        })
    }

    fn bundle(&self, lang: Lang) -> &FluentBundle<FluentResource> {
        match lang {
            Lang::Vi => &self.vi,
            Lang::En => &self.en,
        }
    }

    /// The message for `key`, or the key itself when missing (a test makes sure
    /// none is missing).
    pub fn text(&self, lang: Lang, key: &str, args: &[(&str, String)]) -> String {
        let b = self.bundle(lang);
        let Some(pattern) = b.get_message(key).and_then(|m| m.value()) else {
            return key.to_string();
        };
        let mut fargs = FluentArgs::new();
        for (k, v) in args {
            fargs.set(*k, FluentValue::from(v.clone()));
        }
        let mut errors = Vec::new();
        b.format_pattern(pattern, Some(&fargs), &mut errors)
            .into_owned()
    }

    /// Message ids defined in a language, for the completeness test.
    pub fn keys(lang: Lang) -> Vec<String> {
        let src = match lang {
            Lang::Vi => VI,
            Lang::En => EN,
        };
        src.lines()
            .filter_map(|l| l.split_once(" = ").map(|(k, _)| k.trim()))
            .filter(|k| !k.is_empty() && !k.starts_with('#') && !k.starts_with(' '))
            .map(str::to_string)
            .collect()
    }
}

/// A translator bound to one request's language, handed to templates.
#[derive(Clone)]
pub struct Tr {
    pub lang: Lang,
    i18n: Arc<I18n>,
}

impl Tr {
    pub fn new(i18n: Arc<I18n>, lang: Lang) -> Self {
        Self { lang, i18n }
    }
    /// Plain message.
    pub fn t(&self, key: &str) -> String {
        self.i18n.text(self.lang, key, &[])
    }
    /// Message with named arguments.
    pub fn ta(&self, key: &str, args: &[(&str, String)]) -> String {
        self.i18n.text(self.lang, key, args)
    }
    pub fn code(&self) -> &'static str {
        self.lang.code()
    }
    pub fn other_code(&self) -> &'static str {
        self.lang.other().code()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_languages_have_the_same_keys() {
        let mut vi = I18n::keys(Lang::Vi);
        let mut en = I18n::keys(Lang::En);
        vi.sort();
        en.sort();
        assert!(vi.len() > 50);
        assert_eq!(vi, en);
    }

    /// Every classification answer and override field has a label in both languages.
    #[test]
    fn classification_vocabulary_is_translated() {
        use vigilo_core::classification::{
            Autonomy, IntendedUsers, OverrideField, Significance, Situation,
        };
        let keys = I18n::keys(Lang::Vi);
        let mut codes: Vec<String> = Vec::new();
        codes.extend(Situation::ALL.iter().map(|v| format!("ans-{}", v.as_str())));
        codes.extend(
            Significance::ALL
                .iter()
                .map(|v| format!("ans-{}", v.as_str())),
        );
        codes.extend(Autonomy::ALL.iter().map(|v| format!("ans-{}", v.as_str())));
        codes.extend(
            IntendedUsers::ALL
                .iter()
                .map(|v| format!("ans-{}", v.as_str())),
        );
        codes.extend(
            OverrideField::ALL
                .iter()
                .map(|v| format!("ovr-{}", v.as_str())),
        );
        for c in codes {
            assert!(keys.contains(&c), "{c} has no label");
        }
    }

    #[test]
    fn formats_arguments() {
        let i = I18n::load().expect("locales parse");
        assert_eq!(
            i.text(
                Lang::En,
                "logged-in-as",
                &[("name", "An".into()), ("role", "Reviewer".into())]
            ),
            "Logged in: An (Reviewer)"
        );
        assert_eq!(i.text(Lang::Vi, "nav-login", &[]), "Đăng nhập");
        assert_eq!(i.text(Lang::Vi, "no-such-key", &[]), "no-such-key");
    }
}
