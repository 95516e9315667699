//! HTML and SVG rendering: every block renders, user text never becomes markup, and every
//! output parses back as XML (the fragment uses self-closing void tags, so it can).

use proptest::prelude::*;
use quick_xml::events::Event;
use quick_xml::Reader;
use vigilo_report::*;

/// Parses `xml` to the end; returns the unescaped text content and the element names seen.
fn parse_xml(xml: &str) -> Result<(String, Vec<String>), String> {
    let mut reader = Reader::from_str(xml);
    reader.config_mut().check_end_names = true;
    let mut text = String::new();
    let mut names = Vec::new();
    let mut depth = 0i32;
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                depth += 1;
                names.push(String::from_utf8_lossy(e.name().as_ref()).into_owned());
            }
            Ok(Event::Empty(e)) => {
                names.push(String::from_utf8_lossy(e.name().as_ref()).into_owned())
            }
            Ok(Event::End(_)) => depth -= 1,
            Ok(Event::Text(t)) => {
                text.push_str(&t.decode().map_err(|e| e.to_string())?);
            }
            Ok(Event::GeneralRef(r)) => {
                let name = r.decode().map_err(|e| e.to_string())?;
                let resolved = match name.as_ref() {
                    "amp" => "&".to_string(),
                    "lt" => "<".to_string(),
                    "gt" => ">".to_string(),
                    "quot" => "\"".to_string(),
                    "apos" => "'".to_string(),
                    other => match other.strip_prefix('#').and_then(|n| n.parse::<u32>().ok()) {
                        Some(code) => char::from_u32(code)
                            .map(String::from)
                            .ok_or("bad char ref")?,
                        None => return Err(format!("unknown entity {other}")),
                    },
                };
                text.push_str(&resolved);
            }
            Ok(Event::Eof) => break,
            Ok(Event::CData(_)) | Ok(Event::PI(_)) | Ok(Event::DocType(_)) => {
                return Err("unexpected CDATA, processing instruction or doctype".into())
            }
            Ok(_) => {}
            Err(e) => return Err(format!("at {}: {e}", reader.buffer_position())),
        }
    }
    if depth != 0 {
        return Err(format!("unbalanced elements, depth {depth}"));
    }
    Ok((text, names))
}

fn text_labels(title: &str) -> ChartText {
    ChartText {
        title: title.to_string(),
        description: format!("{title} description"),
        x_label: format!("{title} x"),
        y_label: format!("{title} y"),
    }
}

fn roc(label: &str) -> Svg {
    roc_curve_svg(
        &[(0.1, 0.5), (0.3, 0.8), (0.0, 0.2), (f64::NAN, 0.4)],
        Estimate {
            value: 0.874,
            lower: 0.82,
            upper: 0.91,
        },
        &RocLabels {
            text: text_labels(label),
            auc: "AUC".into(),
            interval: "KTC 95%".into(),
            chance: label.into(),
        },
        Lang::Vi,
    )
}

fn calibration(label: &str) -> Svg {
    calibration_svg(
        &[
            CalibrationBin {
                mean_predicted: 0.1,
                observed: 0.12,
                count: 200,
            },
            CalibrationBin {
                mean_predicted: 0.5,
                observed: 0.41,
                count: 50,
            },
            CalibrationBin {
                mean_predicted: 0.9,
                observed: 0.95,
                count: 10,
            },
        ],
        &CalibrationLabels {
            text: text_labels(label),
            perfect: label.into(),
            observed: label.into(),
        },
        Lang::En,
    )
}

fn kpi(label: &str) -> (KpiSeries, KpiLabels) {
    (
        KpiSeries {
            periods: vec![
                "Q1".into(),
                "Q2".into(),
                label.into(),
                "Q4".into(),
                "Q5".into(),
            ],
            values: vec![Some(81.0), Some(86.5), None, Some(92.0), Some(90.0)],
            target: Some(90.0),
            y_range: None,
        },
        KpiLabels {
            text: text_labels(label),
            target: label.into(),
            missing: label.into(),
        },
    )
}

fn all_blocks(text: &str) -> Document {
    let runs = vec![
        Inline::plain(text),
        Inline::bold(text),
        Inline::italic(text),
    ];
    Document {
        lang: Lang::Vi,
        title: text.into(),
        subtitle: Some(text.into()),
        meta: vec![(text.into(), text.into())],
        created: None,
        author: Some(text.into()),
        footer: Some(text.into()),
        blocks: vec![
            Block::Letterhead(Letterhead {
                authority: vec![text.into(), text.into()],
                reference: Some(text.into()),
                motto: vec![text.into()],
                place_date: Some(text.into()),
            }),
            Block::heading(1, text),
            Block::heading(9, text),
            Block::Paragraph(runs.clone()),
            Block::KeyValue(vec![(text.into(), text.into())]),
            Block::Table(DataTable {
                caption: Some(text.into()),
                columns: vec![Column::text(text), Column::numeric(text)],
                rows: vec![vec![text.into(), text.into()], vec![text.into()]],
            }),
            Block::List(vec![runs.clone(), runs.clone()]),
            Block::Figure(Figure {
                svg: roc(text),
                caption: text.into(),
            }),
            Block::Note {
                kind: NoteKind::Warning,
                content: runs.clone(),
            },
            Block::note(NoteKind::Info, text),
            Block::PageBreak,
            Block::Signature(Signature {
                place_date: Some(text.into()),
                title: vec![text.into()],
                name: text.into(),
            }),
        ],
    }
}

#[test]
fn every_block_renders_as_its_element() {
    let html = to_html(&all_blocks("Trạm y tế xã Đông Hưng"));
    let (_, names) = parse_xml(&html).expect("fragment is well formed");
    for expected in [
        "article",
        "header",
        "h1",
        "dl",
        "h2",
        "h4",
        "p",
        "strong",
        "em",
        "table",
        "caption",
        "thead",
        "tbody",
        "th",
        "td",
        "ul",
        "li",
        "figure",
        "svg",
        "figcaption",
        "aside",
        "hr",
        "br",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "no <{expected}> in {html}"
        );
    }
    for class in [
        "letterhead",
        "reference",
        "motto",
        "place-date",
        "signature",
        "signer-name",
        "note-warning",
        "note-info",
        "class=\"num\"",
        "page-break",
    ] {
        assert!(html.contains(class), "no {class} in {html}");
    }
    assert!(html.starts_with("<article class=\"report\" lang=\"vi\">"));
    assert!(
        !html.contains("<script") && !html.contains("style=") && !html.contains("http://example")
    );
}

#[test]
fn markup_in_user_text_is_escaped() {
    let html = to_html(&all_blocks("<script>alert('x')</script> & \"q\""));
    assert!(!html.contains("<script>"));
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"));
}

proptest! {
    // Whatever the user writes, the element structure is the one a harmless text gives,
    // and the text reads back unchanged.
    #[test]
    fn user_text_never_produces_markup(text in "\\PC{0,40}|[<>&\"'/=a-z ]{0,40}") {
        let html = to_html(&all_blocks(&text));
        let reference = to_html(&all_blocks("x"));
        let (content, names) = parse_xml(&html).map_err(TestCaseError::fail)?;
        let (_, reference_names) = parse_xml(&reference).map_err(TestCaseError::fail)?;
        prop_assert_eq!(names, reference_names);
        prop_assert!(content.contains(&text));
    }

    #[test]
    fn chart_labels_are_escaped(label in "\\PC{0,30}|[<>&\"'\\]/ ]{0,30}") {
        let (series, labels) = kpi(&label);
        for svg in [
            roc(&label),
            calibration(&label),
            line_chart_svg(&series, &labels, Lang::Vi),
            bar_chart_svg(&series, &labels, Lang::En),
        ] {
            let (content, names) = parse_xml(svg.as_str()).map_err(TestCaseError::fail)?;
            prop_assert_eq!(names.first().map(String::as_str), Some("svg"));
            prop_assert!(!names.iter().any(|n| n == "script" || n == "foreignObject" || n == "style"));
            prop_assert!(content.contains(&label));
        }
    }
}

#[test]
fn charts_are_accessible_and_self_contained() {
    let (series, labels) = kpi("Tỷ lệ sàng lọc lao");
    for svg in [
        roc("ROC"),
        calibration("Calibration"),
        line_chart_svg(&series, &labels, Lang::Vi),
        bar_chart_svg(&series, &labels, Lang::Vi),
    ] {
        let svg = svg.as_str();
        let (_, names) = parse_xml(svg).expect("well formed");
        assert_eq!(&names[..3], ["svg", "title", "desc"]);
        assert!(svg.contains("role=\"img\""));
        assert!(!svg.contains("href") && !svg.contains("@import") && !svg.contains("url("));
        assert!(svg.len() < 12_000, "chart is {} bytes", svg.len());
    }
}

#[test]
fn roc_legend_formats_the_auc_in_the_document_language() {
    let svg = roc("ROC").into_string();
    assert!(svg.contains("AUC 0,874 (KTC 95% 0,820–0,910)"), "{svg}");
    // The diagonal from (0,0) to (1,1) is drawn dashed.
    assert!(svg.contains("stroke-dasharray=\"6 4\""));
}

#[test]
fn calibration_draws_the_diagonal_and_one_marker_per_bin() {
    let svg = calibration("Calibration").into_string();
    assert_eq!(svg.matches("<circle").count(), 3);
    assert!(svg.contains("stroke-dasharray=\"6 4\""));
    assert!(
        svg.contains(">0.4<") && svg.contains(">1.0<"),
        "English ticks use a dot"
    );
}

#[test]
fn missing_periods_break_the_line_and_have_no_bar() {
    let (series, labels) = kpi("KPI");
    let line = line_chart_svg(&series, &labels, Lang::Vi).into_string();
    let path = line
        .lines()
        .find(|l| l.starts_with("<path"))
        .expect("a data path");
    assert_eq!(
        path.matches('M').count(),
        2,
        "two segments around the gap: {path}"
    );
    assert_eq!(line.matches("<circle").count(), 4);
    assert!(line.contains("stroke-dasharray=\"8 4\""), "target line");
    let bars = bar_chart_svg(&series, &labels, Lang::Vi).into_string();
    let data_bars = bars.matches("<rect").count() - 2; // background and frame
    assert_eq!(data_bars, 4);
}

#[test]
fn line_chart_with_no_data_still_renders() {
    let series = KpiSeries {
        periods: vec!["T1".into(), "T2".into()],
        values: vec![None, None],
        target: None,
        y_range: Some((0.0, 100.0)),
    };
    let svg = line_chart_svg(&series, &KpiLabels::default(), Lang::Vi);
    parse_xml(svg.as_str()).expect("well formed");
    assert!(!svg.as_str().contains("<path"));
}
