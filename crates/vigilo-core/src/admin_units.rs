//! The 2025 administrative map of Vietnam: 34 provinces and 3,321 communes,
//! wards and special zones. Parsed from the packaged CSV (see `data/`).

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitLevel {
    Nation,
    Province,
    /// Commune (Xã), ward (Phường) or special zone (Đặc khu).
    Local,
}

impl UnitLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            UnitLevel::Nation => "nation",
            UnitLevel::Province => "province",
            UnitLevel::Local => "local",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AdminUnit {
    /// Codes are strings: leading zeros matter (`01` is Hà Nội).
    pub code: String,
    pub name: String,
    pub short_name: String,
    pub level: UnitLevel,
    /// `Thành phố`, `Tỉnh`, `Xã`, `Phường`, `Đặc khu`, or `Quốc gia`.
    pub unit_type: String,
    pub parent_code: Option<String>,
    pub area_km2: Option<f64>,
}

/// Code of the national root unit.
pub const NATION_CODE: &str = "VN";

#[derive(Debug, thiserror::Error)]
pub enum AdminUnitsError {
    #[error("admin units CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("admin units CSV line {line}: missing column '{column}'")]
    MissingColumn { line: u64, column: &'static str },
    #[error("admin units CSV line {line}: bad area '{value}'")]
    BadArea { line: u64, value: String },
    #[error("admin units CSV line {line}: province {code} has two names ('{a}' and '{b}')")]
    ProvinceConflict {
        line: u64,
        code: String,
        a: String,
        b: String,
    },
    #[error("admin units CSV line {line}: duplicate unit code {code}")]
    DuplicateCode { line: u64, code: String },
    #[error("admin units CSV line {line}: province code {code} collides with a local unit code")]
    CodeCollision { line: u64, code: String },
}

/// Parses the 2025 map CSV (columns `province_code, province, province_short,
/// ward_code, ward, ward_type, ward_short, ward_area_km2`) into the nation, its
/// provinces and local units, in that order.
pub fn parse_2025_csv(data: &[u8]) -> Result<Vec<AdminUnit>, AdminUnitsError> {
    let mut rdr = csv::ReaderBuilder::new().from_reader(data);
    let headers = rdr.headers()?.clone();
    let col = |name: &'static str| headers.iter().position(|h| h.trim() == name);
    let idx = |name: &'static str| {
        col(name).ok_or(AdminUnitsError::MissingColumn {
            line: 1,
            column: name,
        })
    };
    let (pc, pn, ps, wc, wn, wt, ws, wa) = (
        idx("province_code")?,
        idx("province")?,
        idx("province_short")?,
        idx("ward_code")?,
        idx("ward")?,
        idx("ward_type")?,
        idx("ward_short")?,
        idx("ward_area_km2")?,
    );

    let mut provinces: Vec<AdminUnit> = Vec::new();
    let mut locals: Vec<AdminUnit> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for rec in rdr.records() {
        let rec = rec?;
        let line = rec.position().map(|p| p.line()).unwrap_or(0);
        let field = |i: usize, column: &'static str| {
            rec.get(i)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .ok_or(AdminUnitsError::MissingColumn { line, column })
        };
        let p_code = field(pc, "province_code")?;
        let p_name = field(pn, "province")?;
        match provinces.iter().find(|p| p.code == p_code) {
            Some(p) if p.name != p_name => {
                return Err(AdminUnitsError::ProvinceConflict {
                    line,
                    code: p_code.into(),
                    a: p.name.clone(),
                    b: p_name.into(),
                })
            }
            Some(_) => {}
            None => {
                let unit_type = if p_name.starts_with("Thành phố") {
                    "Thành phố"
                } else {
                    "Tỉnh"
                };
                provinces.push(AdminUnit {
                    code: p_code.into(),
                    name: p_name.into(),
                    short_name: field(ps, "province_short")?.into(),
                    level: UnitLevel::Province,
                    unit_type: unit_type.into(),
                    parent_code: Some(NATION_CODE.into()),
                    area_km2: None,
                });
            }
        }
        let code = field(wc, "ward_code")?;
        if !seen.insert(code.to_string()) {
            return Err(AdminUnitsError::DuplicateCode {
                line,
                code: code.into(),
            });
        }
        let area = match rec.get(wa).map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(v) => Some(v.parse::<f64>().map_err(|_| AdminUnitsError::BadArea {
                line,
                value: v.into(),
            })?),
        };
        locals.push(AdminUnit {
            code: code.into(),
            name: field(wn, "ward")?.into(),
            short_name: field(ws, "ward_short")?.into(),
            level: UnitLevel::Local,
            unit_type: field(wt, "ward_type")?.into(),
            parent_code: Some(p_code.into()),
            area_km2: area,
        });
    }
    for p in &provinces {
        if seen.contains(&p.code) {
            return Err(AdminUnitsError::CodeCollision {
                line: 0,
                code: p.code.clone(),
            });
        }
    }
    let mut out = Vec::with_capacity(1 + provinces.len() + locals.len());
    out.push(AdminUnit {
        code: NATION_CODE.into(),
        name: "Việt Nam".into(),
        short_name: "Việt Nam".into(),
        level: UnitLevel::Nation,
        unit_type: "Quốc gia".into(),
        parent_code: None,
        area_km2: None,
    });
    out.extend(provinces);
    out.extend(locals);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str =
        "province_code,province,province_short,ward_code,ward,ward_type,ward_short,ward_area_km2\n\
01,Thành phố Hà Nội,Hà Nội,00004,Phường Ba Đình,Phường,Ba Đình,2.97\n\
01,Thành phố Hà Nội,Hà Nội,00008,Phường Ngọc Hà,Phường,Ngọc Hà,2.68\n\
24,Tỉnh Bắc Ninh,Bắc Ninh,07210,Xã Đại Sơn,Xã,Đại Sơn,\n";

    #[test]
    fn parses_sample() {
        let units = parse_2025_csv(SAMPLE.as_bytes()).expect("parse");
        assert_eq!(units.len(), 1 + 2 + 3);
        assert_eq!(units[0].code, NATION_CODE);
        assert_eq!(units[1].unit_type, "Thành phố");
        assert_eq!(units[2].unit_type, "Tỉnh");
        assert_eq!(units[5].area_km2, None);
        assert_eq!(units[3].parent_code.as_deref(), Some("01"));
    }

    #[test]
    fn rejects_bad_input() {
        let dup = format!("{SAMPLE}01,Thành phố Hà Nội,Hà Nội,00004,Phường X,Phường,X,1\n");
        assert!(matches!(
            parse_2025_csv(dup.as_bytes()),
            Err(AdminUnitsError::DuplicateCode { .. })
        ));
        let bad_area = SAMPLE.replace("2.97", "abc");
        assert!(matches!(
            parse_2025_csv(bad_area.as_bytes()),
            Err(AdminUnitsError::BadArea { .. })
        ));
        assert!(matches!(
            parse_2025_csv(b"a,b\n1,2\n"),
            Err(AdminUnitsError::MissingColumn { .. })
        ));
    }

    #[test]
    fn packaged_map_has_34_provinces_and_3321_units() {
        let data = include_bytes!("../../../data/vn_admin_units_2025.csv");
        let units = parse_2025_csv(data).expect("packaged CSV parses");
        let provinces = units
            .iter()
            .filter(|u| u.level == UnitLevel::Province)
            .count();
        let locals: Vec<_> = units
            .iter()
            .filter(|u| u.level == UnitLevel::Local)
            .collect();
        assert_eq!(provinces, 34);
        assert_eq!(locals.len(), 3321);
        let count = |t: &str| locals.iter().filter(|u| u.unit_type == t).count();
        assert_eq!(
            (count("Xã"), count("Phường"), count("Đặc khu")),
            (2621, 687, 13)
        );
    }
}
