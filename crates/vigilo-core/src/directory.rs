//! The Directory's domain: products, versions and their model cards, the
//! vocabularies they use, and the rules for publishing.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Declares a closed vocabulary with stable codes and Vietnamese and English labels.
macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident, $what:literal, { $($variant:ident => ($code:literal, $vi:literal, $en:literal)),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn code(self) -> &'static str {
                match self { $($name::$variant => $code),+ }
            }
            pub fn label(self, lang: crate::Lang) -> &'static str {
                match (self, lang) {
                    $(($name::$variant, crate::Lang::Vi) => $vi, ($name::$variant, crate::Lang::En) => $en,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.code())
            }
        }

        impl FromStr for $name {
            type Err = UnknownCode;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let t = s.trim();
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.code() == t)
                    .ok_or_else(|| UnknownCode {
                        what: $what,
                        given: t.chars().take(60).collect(),
                        expected: $name::ALL.iter().map(|v| v.code()).collect::<Vec<_>>().join(", "),
                    })
            }
        }
    };
}
pub(crate) use vocabulary;

/// A value outside a closed vocabulary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} '{given}': expected one of {expected}")]
pub struct UnknownCode {
    pub what: &'static str,
    pub given: String,
    pub expected: String,
}

vocabulary!(
    /// Clinical areas of the national rollout, and the usual others.
    ClinicalArea, "clinical area", {
        TuberculosisScreening => ("tuberculosis_screening", "Sàng lọc lao", "Tuberculosis screening"),
        CardiovascularRisk => ("cardiovascular_risk", "Nguy cơ tim mạch", "Cardiovascular risk"),
        NutritionCounselling => ("nutrition_counselling", "Tư vấn dinh dưỡng", "Nutrition counselling"),
        AcuteKidneyInjury => ("acute_kidney_injury", "Tổn thương thận cấp", "Acute kidney injury"),
        RespiratoryDistress => ("respiratory_distress", "Suy hô hấp", "Respiratory distress"),
        VirtualAssistant => ("virtual_assistant", "Trợ lý ảo", "Virtual assistant"),
        Radiology => ("radiology", "Chẩn đoán hình ảnh", "Radiology"),
        Other => ("other", "Khác", "Other"),
    }
);

vocabulary!(
    /// What the product takes in.
    InputModality, "input modality", {
        Imaging => ("imaging", "Hình ảnh y khoa", "Medical imaging"),
        Signals => ("signals", "Tín hiệu sinh lý (ECG, SpO2…)", "Physiological signals (ECG, SpO2…)"),
        StructuredRecord => ("structured_record", "Hồ sơ bệnh án có cấu trúc", "Structured health record"),
        Laboratory => ("laboratory", "Kết quả xét nghiệm", "Laboratory results"),
        Text => ("text", "Văn bản, hội thoại", "Text and conversation"),
        Audio => ("audio", "Âm thanh, giọng nói", "Audio and voice"),
        Multimodal => ("multimodal", "Đa phương thức", "Multimodal"),
        OtherModality => ("other", "Khác", "Other"),
    }
);

vocabulary!(
    /// How the model behaves after release.
    AiKind, "kind of AI", {
        Locked => ("locked", "Mô hình cố định", "Locked model"),
        ContinuouslyLearning => ("continuously_learning", "Mô hình học liên tục", "Continuously learning"),
        Generative => ("generative", "AI tạo sinh / mô hình ngôn ngữ lớn", "Generative AI / LLM assistant"),
    }
);

vocabulary!(
    /// Licence status as the directory shows it.
    LicenceStatus, "licence status", {
        NotLicensed => ("not_licensed", "Chưa cấp phép", "Not licensed"),
        Active => ("active", "Đang hiệu lực", "Active"),
        Suspended => ("suspended", "Tạm đình chỉ", "Suspended"),
        Revoked => ("revoked", "Đã thu hồi", "Revoked"),
        Expired => ("expired", "Hết hạn", "Expired"),
    }
);

vocabulary!(
    /// Where a directory entry comes from.
    EntrySource, "source", {
        Local => ("local", "Việt Nam", "Vietnam"),
        FdaAiList => ("fda_ai_list", "Danh sách AI của FDA (Hoa Kỳ)", "FDA AI-enabled device list (US)"),
        GrnPeer => ("grn_peer", "Cơ quan quản lý thành viên GRN", "GRN member regulator"),
    }
);

vocabulary!(
    /// A version's place in its life.
    VersionStatus, "version status", {
        Draft => ("draft", "Bản nháp", "Draft"),
        Published => ("published", "Đã công bố", "Published"),
        Withdrawn => ("withdrawn", "Đã rút", "Withdrawn"),
    }
);

/// One performance claim with its interval, as the manufacturer states it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimedMetric {
    /// e.g. "sensitivity", "specificity", "AUROC".
    pub metric: String,
    pub value: f64,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    /// Where the figure comes from (study, dataset, n).
    pub dataset: String,
}

/// The structured model card of one product version (close to the CHAI applied model card).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelCard {
    pub intended_use: String,
    #[serde(default)]
    pub intended_use_en: String,
    pub intended_users: String,
    pub target_population: String,
    pub clinical_area: ClinicalArea,
    pub input_modality: InputModality,
    pub ai_kind: AiKind,
    pub training_data: String,
    #[serde(default)]
    pub claimed_performance: Vec<ClaimedMetric>,
    #[serde(default)]
    pub subgroups_reported: Vec<String>,
    pub known_limitations: String,
    pub change_control_plan: String,
    /// Interface or output languages, e.g. ["vi", "en"].
    #[serde(default)]
    pub languages: Vec<String>,
}

/// A field that failed validation and why, as a stable code the interface translates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub code: &'static str,
}

impl FieldError {
    pub(crate) fn new(field: impl Into<String>, code: &'static str) -> Self {
        Self {
            field: field.into(),
            code,
        }
    }
}

/// Longest free-text field we keep; keeps pages light and stops abuse.
pub const MAX_TEXT: usize = 5000;

fn text(errors: &mut Vec<FieldError>, field: &str, value: &str, required: bool) {
    let n = value.trim().chars().count();
    if required && n == 0 {
        errors.push(FieldError::new(field, "required"));
    } else if n > MAX_TEXT {
        errors.push(FieldError::new(field, "too_long"));
    }
}

impl ModelCard {
    /// All problems at once, so a form can show every message in one round trip.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        text(&mut e, "intended_use", &self.intended_use, true);
        text(&mut e, "intended_use_en", &self.intended_use_en, false);
        text(&mut e, "intended_users", &self.intended_users, true);
        text(&mut e, "target_population", &self.target_population, true);
        text(&mut e, "training_data", &self.training_data, true);
        text(&mut e, "known_limitations", &self.known_limitations, true);
        text(
            &mut e,
            "change_control_plan",
            &self.change_control_plan,
            true,
        );
        if self.claimed_performance.len() > 50 {
            e.push(FieldError::new("claimed_performance", "too_many"));
        }
        for (i, m) in self.claimed_performance.iter().enumerate() {
            let f = |name: &str| format!("claimed_performance[{i}].{name}");
            if m.metric.trim().is_empty() {
                e.push(FieldError::new(f("metric"), "required"));
            }
            if !m.value.is_finite() {
                e.push(FieldError::new(f("value"), "not_a_number"));
            }
            match (m.ci_low, m.ci_high) {
                (Some(lo), Some(hi)) => {
                    if !lo.is_finite() || !hi.is_finite() {
                        e.push(FieldError::new(f("ci_low"), "not_a_number"));
                    } else if !(lo <= m.value && m.value <= hi) {
                        e.push(FieldError::new(f("ci_low"), "interval_excludes_value"));
                    }
                }
                (None, None) => {}
                _ => e.push(FieldError::new(f("ci_high"), "interval_incomplete")),
            }
            text(&mut e, &f("dataset"), &m.dataset, true);
        }
        if self.subgroups_reported.len() > 50 {
            e.push(FieldError::new("subgroups_reported", "too_many"));
        }
        for l in &self.languages {
            if crate::Lang::from_tag(l).is_none() && !(2..=8).contains(&l.len()) {
                e.push(FieldError::new("languages", "bad_language"));
            }
        }
        if e.is_empty() {
            Ok(())
        } else {
            Err(e)
        }
    }
}

/// A version label such as `1.0`, `2.1.3` or `2026.03`: 1 to 32 characters of
/// letters, digits, `.`, `-`, `_`, `+`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct VersionLabel(String);

impl VersionLabel {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let s = raw.trim();
        if s.is_empty() || s.len() > 32 {
            return Err(FieldError::new("version", "bad_length"));
        }
        if !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+'))
        {
            return Err(FieldError::new("version", "bad_characters"));
        }
        Ok(VersionLabel(s.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What may happen to a version: a published version is never edited, only
/// withdrawn or superseded by a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionCommand {
    Edit,
    Publish,
    Withdraw,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VersionTransitionError {
    #[error("a published version cannot be edited: create a new version")]
    PublishedIsImmutable,
    #[error("a withdrawn version cannot change")]
    Withdrawn,
    #[error("only a published version can be withdrawn")]
    NotPublished,
}

pub fn version_transition(
    from: VersionStatus,
    cmd: VersionCommand,
) -> Result<VersionStatus, VersionTransitionError> {
    use VersionCommand as C;
    use VersionStatus as S;
    match (from, cmd) {
        (S::Draft, C::Edit) => Ok(S::Draft),
        (S::Draft, C::Publish) => Ok(S::Published),
        (S::Draft, C::Withdraw) => Err(VersionTransitionError::NotPublished),
        (S::Published, C::Edit) | (S::Published, C::Publish) => {
            Err(VersionTransitionError::PublishedIsImmutable)
        }
        (S::Published, C::Withdraw) => Ok(S::Withdrawn),
        (S::Withdrawn, _) => Err(VersionTransitionError::Withdrawn),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Lang;

    pub fn card() -> ModelCard {
        ModelCard {
            intended_use: "Sàng lọc lao trên phim X-quang ngực".into(),
            intended_use_en: "Tuberculosis screening on chest X-rays".into(),
            intended_users: "Bác sĩ trạm y tế".into(),
            target_population: "Người lớn từ 15 tuổi".into(),
            clinical_area: ClinicalArea::TuberculosisScreening,
            input_modality: InputModality::Imaging,
            ai_kind: AiKind::Locked,
            training_data: "120.000 phim từ 5 bệnh viện".into(),
            claimed_performance: vec![ClaimedMetric {
                metric: "sensitivity".into(),
                value: 0.91,
                ci_low: Some(0.88),
                ci_high: Some(0.94),
                dataset: "Hà Nội 2024, n=2.000".into(),
            }],
            subgroups_reported: vec!["sex".into(), "age".into()],
            known_limitations: "Chưa đánh giá ở trẻ em".into(),
            change_control_plan: "Cập nhật mỗi năm, có thẩm định lại".into(),
            languages: vec!["vi".into()],
        }
    }

    #[test]
    fn vocabularies_round_trip_and_have_labels() {
        for a in ClinicalArea::ALL {
            assert_eq!(a.code().parse::<ClinicalArea>(), Ok(*a));
            assert!(!a.label(Lang::Vi).is_empty() && !a.label(Lang::En).is_empty());
        }
        for m in InputModality::ALL {
            assert_eq!(m.code().parse::<InputModality>(), Ok(*m));
        }
        for k in AiKind::ALL {
            assert_eq!(k.code().parse::<AiKind>(), Ok(*k));
        }
        for s in LicenceStatus::ALL {
            assert_eq!(s.code().parse::<LicenceStatus>(), Ok(*s));
        }
        let err = "tb".parse::<ClinicalArea>().unwrap_err();
        assert!(err.to_string().contains("tuberculosis_screening"));
        assert_eq!(ClinicalArea::ALL.len(), 8);
    }

    #[test]
    fn model_card_validation() {
        assert_eq!(card().validate(), Ok(()));
        let mut bad = card();
        bad.intended_use = "  ".into();
        bad.claimed_performance[0].ci_low = Some(0.95);
        bad.claimed_performance.push(ClaimedMetric {
            metric: "".into(),
            value: f64::NAN,
            ci_low: Some(0.1),
            ci_high: None,
            dataset: "x".into(),
        });
        let errs = bad.validate().unwrap_err();
        let codes: Vec<(&str, &str)> = errs.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert!(codes.contains(&("intended_use", "required")));
        assert!(codes.contains(&("claimed_performance[0].ci_low", "interval_excludes_value")));
        assert!(codes.contains(&("claimed_performance[1].metric", "required")));
        assert!(codes.contains(&("claimed_performance[1].value", "not_a_number")));
        assert!(codes.contains(&("claimed_performance[1].ci_high", "interval_incomplete")));
        let mut long = card();
        long.known_limitations = "x".repeat(MAX_TEXT + 1);
        assert_eq!(long.validate().unwrap_err()[0].code, "too_long");
    }

    #[test]
    fn model_card_json_rejects_unknown_fields() {
        let mut v = serde_json::to_value(card()).unwrap();
        v["colour"] = "blue".into();
        assert!(serde_json::from_value::<ModelCard>(v).is_err());
        let v = serde_json::to_value(card()).unwrap();
        assert_eq!(serde_json::from_value::<ModelCard>(v).unwrap(), card());
    }

    #[test]
    fn version_labels() {
        assert!(VersionLabel::parse("2.1.0-rc1").is_ok());
        assert_eq!(VersionLabel::parse("").unwrap_err().code, "bad_length");
        assert_eq!(
            VersionLabel::parse("v 2").unwrap_err().code,
            "bad_characters"
        );
    }

    #[test]
    fn version_state_machine_is_exhaustive() {
        use VersionCommand as C;
        use VersionStatus as S;
        let expected = [
            (S::Draft, C::Edit, Ok(S::Draft)),
            (S::Draft, C::Publish, Ok(S::Published)),
            (
                S::Draft,
                C::Withdraw,
                Err(VersionTransitionError::NotPublished),
            ),
            (
                S::Published,
                C::Edit,
                Err(VersionTransitionError::PublishedIsImmutable),
            ),
            (
                S::Published,
                C::Publish,
                Err(VersionTransitionError::PublishedIsImmutable),
            ),
            (S::Published, C::Withdraw, Ok(S::Withdrawn)),
            (
                S::Withdrawn,
                C::Edit,
                Err(VersionTransitionError::Withdrawn),
            ),
            (
                S::Withdrawn,
                C::Publish,
                Err(VersionTransitionError::Withdrawn),
            ),
            (
                S::Withdrawn,
                C::Withdraw,
                Err(VersionTransitionError::Withdrawn),
            ),
        ];
        for (from, cmd, want) in expected {
            assert_eq!(version_transition(from, cmd), want, "{from:?} {cmd:?}");
        }
    }
}
