//! One-time codes found in a message, for `Message.codes`: candidates scored by their nearness
//! to keywords, emphasis, shape and placement.
//!
//! Inputs are untrusted and may be large: every pass is linear in the input (the `regex` crate
//! never backtracks, look-ups are binary searches) and the output is capped.

use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::HashMap;
use std::ops::Range;
use std::sync::LazyLock;

use regex::{Regex, RegexSet};

use crate::{html_scan, regex};

const MAX_CODES: usize = 20;

/// One-time-code candidates, best first, de-duplicated.
///
/// A candidate is a token of 4-10 characters, either all digits or upper-case letters and
/// digits with at least one of each (`X7K9P2`), standing free (not glued to a word, a number
/// with `.,:/-`, `#`, `+`, `@`, a currency sign or `%`). Digit groups joined by single spaces
/// or dashes (`123 456`, `1234-5678`; 2-4 groups of 2-5 digits, lengths within one of each
/// other) and codes spelled out digit by digit (`4 8 2 9 1 3`, 4-10 digits; a longer chain is a
/// list, none of it a code) are returned joined (`123456`). Dash-joined alphanumeric groups
/// (`AB12-CD34`) are returned as shown, immediately followed by the dash-free form (`AB12CD34`).
/// Word-plus-number tokens such as `SAVE20` or `HTML5` are not codes.
///
/// Never returned: anything inside a URL or an email address, dates, times, prices, phone
/// numbers, numbers labelled as order, invoice, reference, ticket, tracking, customer or
/// account numbers (in several languages), postal codes in address lines, and years
/// (1900-2099) unless a keyword directly precedes them (`PIN: 1987`: same line, within 20
/// characters, no digits in between).
///
/// A candidate must be near a keyword (code, OTP, verification, PIN, password, confirm, token,
/// 2FA, ... in English, German, French, Spanish, Portuguese, Italian, Dutch, Polish, Russian,
/// Chinese, Japanese and Korean; "promo code" and the like do not count), i.e. within 60
/// characters of one in the same part; or stand alone on its line or be emphasized in the
/// HTML and either be code-shaped (6-8 digits, or 6+ characters with at least two letters and
/// two digits) or have a keyword in the subject (`<b>`, `<strong>`, headings, monospace, `<mark>`, a bold or large
/// font). Text hidden with `display: none` is ignored.
///
/// Ranking is by a score that adds up, in decreasing weight: nearness to a keyword (before the
/// candidate counts more than after, the same line more than a line apart, closer more than
/// further), emphasis, standing alone on a line, the shape (6 digits most, then 4-8 digits or
/// alphanumeric), and appearing in more than one of subject, text and HTML; ties go to the
/// first appearance (subject, then text part, then HTML). At most 20 codes.
pub fn codes(subject: Option<&str>, text: Option<&str>, html: Option<&str>) -> Vec<String> {
    let documents = subject
        .map(Document::plain)
        .into_iter()
        .chain(text.map(Document::plain))
        .chain(html.map(Document::html));
    // "Your PIN" in the subject vouches for a PIN standing alone in the body.
    let announced_by_subject = subject.is_some_and(|subject| {
        !Context::new(&Document::plain(subject), false)
            .keywords
            .is_empty()
    });
    let mut ranking = Ranking::default();
    for (index, document) in documents.enumerate() {
        ranking.add(index, &Context::new(&document, announced_by_subject));
    }
    ranking.into_codes()
}

const MIN_CODE_LEN: usize = 4;
const MAX_CODE_LEN: usize = 10;
const MAX_GROUP_PARTS: usize = 4;
/// How far (in characters) a keyword may be from a candidate to count as near it.
const NEAR_CHARS: usize = 60;
/// How close after its keyword a year-like number must be to count as labelled by it.
const LABEL_CHARS: usize = 20;

// Score weights: nearness to a keyword dominates, then emphasis and standing alone, then shape.
const KEYWORD_BEFORE: i32 = 50;
const KEYWORD_AFTER: i32 = 40;
const SAME_LINE: i32 = 10;
/// Up to this much more for a keyword right next to the candidate than for one 60 chars away.
const CLOSENESS: i32 = 10;
const EMPHASIZED: i32 = 20;
const STANDS_ALONE: i32 = 15;
const SIX_DIGITS: i32 = 8;
const COMMON_SHAPE: i32 = 4;
const YEAR_LIKE: i32 = -30;
const IN_ANOTHER_PART: i32 = 3;

/// Text searched for codes: the subject, the text part, or the HTML part's visible text.
struct Document<'a> {
    text: Cow<'a, str>,
    /// Sorted, disjoint byte ranges of `text` that are visually emphasized.
    emphasized: Vec<Range<usize>>,
}

impl<'a> Document<'a> {
    fn plain(text: &'a str) -> Self {
        Self {
            text: Cow::Borrowed(text),
            emphasized: Vec::new(),
        }
    }

    fn html(html: &str) -> Self {
        let scanned = html_scan::scan(html);
        Self {
            text: Cow::Owned(scanned.text),
            emphasized: scanned.emphasized,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    Digits,
    Alphanumeric,
}

/// A candidate token at one place in a document.
struct Occurrence {
    range: Range<usize>,
    /// Without separators: the de-duplication key.
    code: String,
    /// As returned: `code`, except for dash-joined alphanumeric groups, which keep their dashes.
    display: String,
    shape: Shape,
}

impl Occurrence {
    fn is_year_like(&self) -> bool {
        self.shape == Shape::Digits
            && self.code.len() == 4
            && self
                .code
                .parse::<u16>()
                .is_ok_and(|number| (1900..=2099).contains(&number))
    }

    /// Shaped like a code even without a keyword to vouch for it.
    fn looks_like_code(&self) -> bool {
        match self.shape {
            Shape::Digits => (6..=8).contains(&self.code.len()),
            Shape::Alphanumeric => {
                let digits = self.code.bytes().filter(u8::is_ascii_digit).count();
                self.code.len() >= 6 && digits >= 2 && self.code.len() - digits >= 2
            }
        }
    }

    fn shape_score(&self) -> i32 {
        match (self.shape, self.code.len()) {
            (Shape::Digits, 6) => SIX_DIGITS,
            (Shape::Digits, 4..=8) | (Shape::Alphanumeric, _) => COMMON_SHAPE,
            (Shape::Digits, _) => 0,
        }
    }
}

/// Candidates of all documents, by code.
#[derive(Default)]
struct Ranking {
    candidates: HashMap<String, Candidate>,
    occurrences_seen: usize,
}

struct Candidate {
    display: String,
    best_score: i32,
    first_seen: usize,
    /// One bit per document it was admitted in.
    documents: u8,
}

impl Candidate {
    fn score(&self) -> i32 {
        // At most two other parts, so the cast is exact.
        let other_parts = self.documents.count_ones().saturating_sub(1) as i32;
        self.best_score + IN_ANOTHER_PART * other_parts
    }
}

impl Ranking {
    fn add(&mut self, document_index: usize, context: &Context<'_>) {
        for occurrence in occurrences(context.text) {
            if let Some(score) = context.score(&occurrence) {
                self.record(document_index, occurrence, score);
            }
        }
    }

    fn record(&mut self, document_index: usize, occurrence: Occurrence, score: i32) {
        let first_seen = self.occurrences_seen;
        self.occurrences_seen += 1;
        let candidate = self
            .candidates
            .entry(occurrence.code)
            .or_insert_with(|| Candidate {
                display: occurrence.display,
                best_score: score,
                first_seen,
                documents: 0,
            });
        candidate.best_score = candidate.best_score.max(score);
        candidate.documents |= 1 << document_index;
    }

    fn into_codes(self) -> Vec<String> {
        let mut ranked: Vec<(String, Candidate)> = self.candidates.into_iter().collect();
        ranked.sort_by_key(|(_, candidate)| (Reverse(candidate.score()), candidate.first_seen));
        let mut codes: Vec<String> = Vec::new();
        for (code, candidate) in ranked {
            for form in [candidate.display, code] {
                if codes.len() < MAX_CODES && !codes.contains(&form) {
                    codes.push(form);
                }
            }
        }
        codes
    }
}

/// What scoring needs to know about one document besides the candidate itself.
struct Context<'d> {
    text: &'d str,
    emphasized: &'d [Range<usize>],
    /// Sorted, merged ranges no candidate may touch.
    excluded: Vec<Range<usize>>,
    /// Sorted, disjoint keyword ranges.
    keywords: Vec<Range<usize>>,
    line_breaks: Vec<usize>,
    /// The subject has a keyword, so any candidate that stands out may be the code.
    announced_by_subject: bool,
}

/// How far a keyword is from a candidate, when it is near.
#[derive(Clone, Copy)]
struct Gap {
    chars: usize,
    same_line: bool,
    /// Nothing but words and punctuation in between, as in `PIN: 1987`.
    without_digits: bool,
}

impl Gap {
    fn between(text: &str) -> Option<Self> {
        // A char is at most 4 bytes: longer gaps cannot be near, and are not counted.
        if text.len() > NEAR_CHARS * 4 {
            return None;
        }
        let chars = text.chars().count();
        (chars <= NEAR_CHARS).then(|| Self {
            chars,
            same_line: !text.contains('\n'),
            without_digits: !text.bytes().any(|b| b.is_ascii_digit()),
        })
    }

    fn score(self, base: i32) -> i32 {
        // Both at most NEAR_CHARS, so the casts are exact.
        let closeness = CLOSENESS * (NEAR_CHARS - self.chars) as i32 / NEAR_CHARS as i32;
        base + if self.same_line { SAME_LINE } else { 0 } + closeness
    }
}

impl<'d> Context<'d> {
    fn new(document: &'d Document<'_>, announced_by_subject: bool) -> Self {
        let text: &str = &document.text;
        let excluded = merged(excluded(text));
        let not_otp: Vec<Range<usize>> = NOT_AN_OTP_CODE
            .find_iter(text)
            .map(|found| found.range())
            .collect();
        let keywords = KEYWORD
            .find_iter(text)
            .map(|found| found.range())
            .filter(|keyword| !overlaps(&excluded, keyword) && !overlaps(&not_otp, keyword))
            .collect();
        Self {
            text,
            emphasized: &document.emphasized,
            excluded,
            keywords,
            line_breaks: text.match_indices('\n').map(|(at, _)| at).collect(),
            announced_by_subject,
        }
    }

    /// `None` when the occurrence is not admitted as a candidate.
    fn score(&self, occurrence: &Occurrence) -> Option<i32> {
        let range = &occurrence.range;
        if overlaps(&self.excluded, range) {
            return None;
        }
        let before = self.keyword_gap_before(range);
        let after = self.keyword_gap_after(range);
        let emphasized = self.is_emphasized(range);
        let stands_alone = self.stands_alone(range);
        if occurrence.is_year_like()
            && !before
                .is_some_and(|gap| gap.same_line && gap.without_digits && gap.chars <= LABEL_CHARS)
        {
            return None;
        }
        let near = before.is_some() || after.is_some();
        let stands_out = emphasized || stands_alone;
        if !near && !(stands_out && (occurrence.looks_like_code() || self.announced_by_subject)) {
            return None;
        }
        let proximity = [
            before.map(|gap| gap.score(KEYWORD_BEFORE)),
            after.map(|gap| gap.score(KEYWORD_AFTER)),
        ]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(0);
        let mut score = proximity + occurrence.shape_score();
        if emphasized {
            score += EMPHASIZED;
        }
        if stands_alone {
            score += STANDS_ALONE;
        }
        if occurrence.is_year_like() {
            score += YEAR_LIKE;
        }
        Some(score)
    }

    fn keyword_gap_before(&self, range: &Range<usize>) -> Option<Gap> {
        let index = self
            .keywords
            .partition_point(|keyword| keyword.end <= range.start);
        let keyword = self.keywords[..index].last()?;
        Gap::between(&self.text[keyword.end..range.start])
    }

    fn keyword_gap_after(&self, range: &Range<usize>) -> Option<Gap> {
        let index = self
            .keywords
            .partition_point(|keyword| keyword.start < range.end);
        let keyword = self.keywords.get(index)?;
        Gap::between(&self.text[range.end..keyword.start])
    }

    fn is_emphasized(&self, range: &Range<usize>) -> bool {
        let index = self
            .emphasized
            .partition_point(|emphasis| emphasis.start <= range.start);
        self.emphasized[..index]
            .last()
            .is_some_and(|emphasis| range.end <= emphasis.end)
    }

    /// Whether the candidate is all there is on its line, apart from punctuation.
    fn stands_alone(&self, range: &Range<usize>) -> bool {
        let index = self.line_breaks.partition_point(|&at| at < range.start);
        let line_start = index
            .checked_sub(1)
            .and_then(|previous| self.line_breaks.get(previous))
            .map_or(0, |&at| at + 1);
        let line_end = self
            .line_breaks
            .get(index)
            .copied()
            .unwrap_or(self.text.len());
        let line = self.text[line_start..line_end].trim_matches(is_decoration);
        line == &self.text[range.clone()]
    }
}

/// Where the [`EXCLUDED`] patterns match. In ASCII text, one pass of [`EXCLUDED_ANY`] first
/// tells which of them match at all (most mails match none or few), so only those search for
/// their places, rather than each of them passing over the whole text (a third less time for
/// the benchmark mail). Not in other text: there `\b` keeps the set off the lazy DFA, and the
/// pass costs more than it saves.
fn excluded(text: &str) -> Vec<Range<usize>> {
    let find =
        |pattern: &Regex| (pattern.find_iter(text).map(|found| found.range())).collect::<Vec<_>>();
    if text.is_ascii() {
        (EXCLUDED_ANY.matches(text).into_iter())
            .flat_map(|index| find(&EXCLUDED[index]))
            .collect()
    } else {
        EXCLUDED.iter().flat_map(find).collect()
    }
}

fn is_decoration(c: char) -> bool {
    c.is_whitespace() || c.is_ascii_punctuation() || "«»“”‘’「」『』【】：。".contains(c)
}

/// Sorts and merges overlapping ranges, so that [`overlaps`] can binary-search them.
fn merged(mut ranges: Vec<Range<usize>>) -> Vec<Range<usize>> {
    ranges.sort_unstable_by_key(|range| range.start);
    let mut merged: Vec<Range<usize>> = Vec::with_capacity(ranges.len());
    for range in ranges {
        match merged.last_mut() {
            Some(last) if range.start <= last.end => last.end = last.end.max(range.end),
            _ => merged.push(range),
        }
    }
    merged
}

/// Whether `range` overlaps any of `sorted`, which are sorted and disjoint.
fn overlaps(sorted: &[Range<usize>], range: &Range<usize>) -> bool {
    let index = sorted.partition_point(|other| other.end <= range.start);
    sorted
        .get(index)
        .is_some_and(|other| other.start < range.end)
}

/// Candidate tokens in document order: single ASCII-alphanumeric runs, or groups of them.
fn occurrences(text: &str) -> Vec<Occurrence> {
    let runs = alphanumeric_runs(text);
    let mut found = Vec::new();
    let mut index = 0;
    while index < runs.len() {
        let (consumed, occurrence) = match group_at(text, &runs[index..]) {
            Some((parts, group)) => (parts, Some(group)),
            // The tail of a spelled-out list that is too long is no code either.
            None => (
                spaced_digit_chain_len(text, &runs[index..]).max(1),
                single(text, &runs[index]),
            ),
        };
        found.extend(occurrence.filter(|occurrence| is_free_standing(text, &occurrence.range)));
        index += consumed;
    }
    found
}

/// Maximal runs of ASCII letters and digits. ASCII bytes never occur inside a multi-byte
/// UTF-8 sequence, so every boundary is a char boundary.
fn alphanumeric_runs(text: &str) -> Vec<Range<usize>> {
    let mut runs = Vec::new();
    let mut start = None;
    for (at, byte) in text.bytes().enumerate() {
        match (byte.is_ascii_alphanumeric(), start) {
            (true, None) => start = Some(at),
            (false, Some(run_start)) => {
                runs.push(run_start..at);
                start = None;
            }
            _ => {}
        }
    }
    runs.extend(start.map(|run_start| run_start..text.len()));
    runs
}

/// A code of at least two parts starting at `runs[0]`, and how many runs it spans.
fn group_at(text: &str, runs: &[Range<usize>]) -> Option<(usize, Occurrence)> {
    let first = runs.first()?;
    let separator = text[first.end..]
        .chars()
        .next()
        .filter(|&c| is_group_separator(c))?;
    let mut parts = vec![&text[first.clone()]];
    for pair in runs.windows(2) {
        // One part more than a code may have already makes a list, not a code: looking no
        // further keeps this linear.
        let max_parts = if parts.iter().all(|part| is_single_digit(part)) {
            MAX_CODE_LEN
        } else {
            MAX_GROUP_PARTS
        };
        if parts.len() > max_parts {
            break;
        }
        let next = &text[pair[1].clone()];
        let joined = pair[1].start == pair[0].end + separator.len_utf8()
            && text[pair[0].end..].starts_with(separator)
            && next
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase());
        if !joined {
            break;
        }
        parts.push(next);
    }
    // In "123 456 OK" the whole chain is no code, but its digits are.
    let digit_parts = parts
        .iter()
        .take_while(|part| part.bytes().all(|b| b.is_ascii_digit()))
        .count();
    let part_counts = 2..=MAX_GROUP_PARTS;
    [parts.len(), digit_parts]
        .into_iter()
        .filter(|&count| {
            part_counts.contains(&count) || is_spaced_out_digits(&parts[..count.min(parts.len())])
        })
        .find_map(|count| {
            let range = first.start..runs[count - 1].end;
            Some((
                count,
                grouped_code(text, range, &parts[..count], separator)?,
            ))
        })
}

/// The code that `parts`, shown joined by `separator` at `range`, make up, if they make one.
fn grouped_code(
    text: &str,
    range: Range<usize>,
    parts: &[&str],
    separator: char,
) -> Option<Occurrence> {
    let code = parts.concat();
    let shape = classify(&code)?;
    let shown_as_grouped = match shape {
        Shape::Digits => {
            let shortest = parts.iter().map(|part| part.len()).min().unwrap_or(0);
            let longest = parts.iter().map(|part| part.len()).max().unwrap_or(0);
            (shortest >= 2 && longest <= 5 && longest - shortest <= 1)
                || is_spaced_out_digits(parts)
        }
        Shape::Alphanumeric => {
            let all_same_length = parts.iter().all(|part| part.len() == parts[0].len());
            separator == '-'
                && parts.iter().all(|part| (2..=6).contains(&part.len()))
                && (parts
                    .iter()
                    .all(|part| part.bytes().any(|b| b.is_ascii_digit()))
                    || (all_same_length && parts[0].len() >= 3))
        }
    };
    if !shown_as_grouped {
        return None;
    }
    let display = match shape {
        Shape::Digits => code.clone(),
        Shape::Alphanumeric => text[range.clone()].to_owned(),
    };
    Some(Occurrence {
        range,
        code,
        display,
        shape,
    })
}

fn is_group_separator(c: char) -> bool {
    matches!(c, ' ' | '-' | '\u{a0}' | '\u{2009}' | '\u{202f}')
}

fn is_single_digit(part: &str) -> bool {
    part.len() == 1 && part.bytes().all(|b| b.is_ascii_digit())
}

/// How many single digits, each one separator character from the next, start at `runs[0]`.
fn spaced_digit_chain_len(text: &str, runs: &[Range<usize>]) -> usize {
    let single_digit = |run: &Range<usize>| is_single_digit(&text[run.clone()]);
    if !runs.first().is_some_and(single_digit) {
        return 0;
    }
    1 + runs
        .windows(2)
        .take_while(|pair| {
            single_digit(&pair[1]) && {
                let mut between = text[pair[0].end..pair[1].start].chars();
                between.next().is_some_and(is_group_separator) && between.next().is_none()
            }
        })
        .count()
}

/// `4 8 2 9 1 3`: a code spelled out digit by digit for readability.
fn is_spaced_out_digits(parts: &[&str]) -> bool {
    (MIN_CODE_LEN..=MAX_CODE_LEN).contains(&parts.len())
        && parts.iter().all(|part| is_single_digit(part))
}

fn single(text: &str, run: &Range<usize>) -> Option<Occurrence> {
    let code = &text[run.clone()];
    let shape = classify(code)?;
    if shape == Shape::Alphanumeric && is_word_and_number(code) {
        return None;
    }
    Some(Occurrence {
        range: run.clone(),
        code: code.to_owned(),
        display: code.to_owned(),
        shape,
    })
}

fn classify(code: &str) -> Option<Shape> {
    if !(MIN_CODE_LEN..=MAX_CODE_LEN).contains(&code.len()) {
        return None;
    }
    let digits = code.bytes().filter(u8::is_ascii_digit).count();
    let upper = code.bytes().filter(u8::is_ascii_uppercase).count();
    if digits == code.len() {
        Some(Shape::Digits)
    } else if digits > 0 && digits + upper == code.len() {
        Some(Shape::Alphanumeric)
    } else {
        None
    }
}

/// `SAVE20`, `WELCOME10`, `HTML5`, `20OFF`: a word and a number, the shape of promo codes and
/// product names rather than of generated codes.
fn is_word_and_number(code: &str) -> bool {
    let letters = code.bytes().filter(u8::is_ascii_uppercase).count();
    let switches = code
        .as_bytes()
        .windows(2)
        .filter(|pair| pair[0].is_ascii_digit() != pair[1].is_ascii_digit())
        .count();
    letters >= 3 && switches == 1
}

/// Whether the token stands on its own rather than being part of a word or a larger number.
fn is_free_standing(text: &str, range: &Range<usize>) -> bool {
    let mut before = text[..range.start].chars().rev();
    let mut after = text[range.end..].chars();
    let (previous, next) = (before.next(), after.next());
    let glued_to_number = |joiner: Option<char>, beyond: Option<char>| {
        joiner.is_some_and(|c| matches!(c, '.' | ',' | ':' | '/' | '-'))
            && beyond.is_some_and(|c| c.is_ascii_digit())
    };
    !previous.is_some_and(|c| is_word_letter(c) || "#+@&$€£¥₹₽¢".contains(c))
        && !next.is_some_and(|c| is_word_letter(c) || "%@$€£¥₹₽¢".contains(c))
        && !glued_to_number(previous, before.next())
        && !glued_to_number(next, after.next())
}

/// A letter of a script that separates words with spaces (Latin, Greek, Cyrillic, ...), so a
/// token touching it is part of a word. Chinese and Japanese put codes flush against the text.
fn is_word_letter(c: char) -> bool {
    c == '_' || (c.is_alphabetic() && u32::from(c) < 0x0590)
}
/// Words announcing a one-time code. Compounds are matched by their tail (`Bestätigungscode`,
/// `Einmalpasswort`, `verificatiecode`).
static KEYWORD: LazyLock<Regex> = LazyLock::new(|| {
    regex(concat!(
        r"(?i)\w*(?:code|kode|codice|c[oó]digo|kod|kodu|kodem)s?\b",
        r"|\w*(?:password|passwort|kennwort|wachtwoord|contrase[ñn]a|senha|has[lł]o|парол)\w*",
        r"|\bmot\s+de\s+passe\b",
        r"|\b(?:one[- ]?time|otp|2fa|mfa|two[- ](?:factor|step)|2-step|pin|passcode|token|clave)s?\b",
        r"|(?-i:\bTANs?\b)",
        r"|\b(?:v[eé]rif|weryfik|confirm|conferm|bestätig|bevestig|potwierd|authenti|autentic)\w*",
        r"|\b(?:код|подтвер|провер)\w*",
        r"|验证码|驗證碼|校验码|动态码|确认码|動態密碼",
        r"|コード|認証番号|確認番号|暗証番号|ワンタイム|パスワード",
        r"|인증\s?번호|인증\s?코드|비밀번호",
    ))
});

/// "Code" phrases that are not about a one-time code; keywords inside them do not count.
static NOT_AN_OTP_CODE: LazyLock<Regex> = LazyLock::new(|| {
    regex(concat!(
        r"(?i)\b(?:promo(?:tional)?|discount|coupon|voucher|gift|referral|invite|invitation",
        r"|redeem|rabatt|gutschein|aktions|promotion|descuento|cup[oó]n|sconto|korting",
        r"|zip|postal|post|area|country|dialing|source|qr|bar)\s*-?\s*codes?\b",
        r"|\b(?:de|en|uni|op)codes?\b",
        r"|\bc[oó]d(?:e|igo|ice)\s+(?:promo\w*|de\s+(?:r[ée]duction|descuento|promoci[oó]n)|sconto)",
    ))
});

/// Numbers that look like codes but are something else.
static EXCLUDED: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    [
        // URLs and email addresses: a number inside is a path, id or tag.
        r#"(?i)\b(?:https?://|www\.)[^\s<>"']+"#,
        r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+",
        // Dates and times: 2026-11-28, 28.11.2026, 11/28/26, 28-11-2026, 2026年11月28日, 10:30:15.
        r"\b\d{4}[-./]\d{1,2}[-./]\d{1,2}\b",
        r"\b\d{1,2}[./]\d{1,2}[./]\d{2,4}\b",
        r"\b\d{1,2}-\d{1,2}-\d{4}\b",
        r"\d{2,4}\s?年\s?\d{1,2}\s?月(?:\s?\d{1,2}\s?日)?",
        r"\b\d{1,2}:\d{2}(?::\d{2})?\b",
        // Prices, currency before or after: $49.99, EUR 100, 1.299,00 €, R$ 1.250,00.
        concat!(
            r"(?:[$€£¥₹₽]|R\$|\b(?:USD|EUR|GBP|CHF|JPY|CNY|CAD|AUD|INR|RUB|BRL|MXN|PLN|SEK|NOK",
            r"|DKK|CZK)\b)\s?\d+(?:[.,' ]\d{3})*(?:[.,]\d{1,2})?",
        ),
        concat!(
            r"\d+(?:[.,' ]\d{3})*(?:[.,]\d{1,2})?\s?(?:[$€£¥₹₽円元]|\b(?:USD|EUR|GBP|CHF|JPY",
            r"|CNY|CAD|AUD|INR|RUB|BRL|MXN|PLN|SEK|NOK|DKK|CZK|zł|kr|руб)\b)",
        ),
        // Phone numbers: international, with an area code in brackets, in three groups, or
        // labelled as such.
        r"\+\d{1,3}(?:[ .-]?\(?\d{1,5}\)?){1,6}",
        r"\(\d{2,5}\)[ .-]?\d{2,5}(?:[ .-]\d{2,5}){0,2}",
        r"\b\d{2,5}[ .-]\d{2,5}[ .-]\d{4,5}\b",
        concat!(
            r"(?i)\b(?:phone|tel|telephone|call|fax|mobile|cell|hotline|whatsapp|telefon\w*",
            r"|rufnummer|anrufen|t[ée]l[ée]phone|appelez|tel[ée]fono|llame|telefone|ligue",
            r"|telefono|chiama|telefoon|телефон\w*|звоните)\b\.?[^\d\n]{0,15}[+(]?\d[\d ()./-]{6,}\d",
        ),
        r"(?:電話|电话|TEL)[^\d\n]{0,5}[+(]?\d[\d ()./-]{6,}\d",
        // Labelled reference numbers: Order #12345678, Invoice 2026-0042, Kundennummer: 10045,
        // Commande n° 45821, Ticket #884201.
        concat!(
            r"(?i)(?:\b(?:order|invoice|receipt|reference|ref|ticket|tracking|case|customer",
            r"|account|member|transaction|booking|reservation|shipment|parcel|bestell|rechnung",
            r"|kunden|auftrag|sendung|buchung|commande|facture|r[ée]f[ée]rence|dossier|pedido",
            r"|factura|fatura|recibo|referencia|fattura|ordine|bestelling|factuur|zam[oó]wieni",
            r"|faktur|заказ|сч[её]т)\w*|\bid\b|注文|订单)",
            r"(?:\s*(?:number|num|nr|no|n[°º]|id|nummer|num[ée]ro|n[úu]mero|номер|番号|号))?",
            r"\.?\s*[:#№]?\s*(?-i:[A-Z]{0,5}[-/]?\d[\dA-Z/-]*)",
        ),
        // IBANs: DE89 3704 0044 0532 0130 00.
        r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b",
        // Payment cards shown by their last four digits: "**** 4242", "ending in 4242".
        r"(?:[*•xX]{2,}[ -]?)+\d{4}\b",
        r"(?i)\b(?:ending|ends)\s+(?:in|with)\s+\d{4}\b",
        // Postal codes in address lines: ", IL 62704", ", 10115 Berlin", "SW1A 1AA".
        r",\s*[A-Z]{2}\s+\d{5}(?:-\d{4})?\b",
        r",\s*(?:[A-Z]{1,2}-)?\d{4,5}\s+\p{Lu}\p{Ll}+",
        r"\b[A-Z]{1,2}\d[A-Z\d]?\s\d[A-Z]{2}\b",
    ]
    .into_iter()
    .map(regex)
    .collect()
});

/// The [`EXCLUDED`] patterns as one set, to learn in one pass which of them match.
static EXCLUDED_ANY: LazyLock<RegexSet> = LazyLock::new(|| {
    RegexSet::new(EXCLUDED.iter().map(Regex::as_str)).expect("the crate's patterns are valid")
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::links::{links, Link, MAX_LINKS};
    use crate::sanitize::Sanitizer;

    /// A verification (or not) mail as it arrives: `html` is raw and goes through the real
    /// sanitizer first, as at ingest.
    struct Case {
        name: &'static str,
        subject: Option<&'static str>,
        text: Option<&'static str>,
        html: Option<&'static str>,
        /// `codes(..)[0]`; `None` means no code at all.
        best: Option<&'static str>,
        /// Numbers that must not be among the codes at all (in any normalized form).
        absent: &'static [&'static str],
    }

    const CORPUS: &[Case] = &[
        Case {
            name: "device verification, text and html",
            subject: Some("[Forgehub] Please verify your device"),
            text: Some(
                "Hey mona!\n\nA sign in attempt requires further verification because we did not \
                 recognize your device. To complete the sign in, enter the verification code on \
                 the unrecognized device.\n\nDevice: Firefox on Ubuntu\nVerification code: 482913\n\n\
                 If you did not attempt to sign in to your account, your password may be \
                 compromised. Visit https://forgehub.example/settings/security to create a new, \
                 strong password for your Forgehub account.\n\nThanks,\nThe Forgehub Team\n",
            ),
            html: Some(
                r#"<div style="font-family:sans-serif"><p>Hey mona!</p>
                <p>A sign in attempt requires further verification because we did not recognize
                your device. To complete the sign in, enter the verification code on the
                unrecognized device.</p>
                <p>Device: Firefox on Ubuntu<br>Verification code: <strong>482913</strong></p>
                <p>If you did not attempt to sign in, your password may be compromised. Visit
                <a href="https://forgehub.example/settings/security">your security settings</a>.</p>
                </div>"#,
            ),
            best: Some("482913"),
            absent: &[],
        },
        Case {
            name: "html only, big bold code, copyright year",
            subject: Some("Confirm your email address"),
            text: None,
            html: Some(
                r#"<table width="100%"><tr><td align="center">
                <h1 style="font-size:24px">Confirm your email</h1>
                <p>Enter this code in the Nimbus app to finish signing up:</p>
                <p style="font-size:32px;letter-spacing:6px"><strong>739201</strong></p>
                <p style="color:#888888">This code expires in 10 minutes.</p>
                <p style="font-size:11px">&copy; 2026 Nimbus Labs, Inc. All rights reserved.</p>
                </td></tr></table>"#,
            ),
            best: Some("739201"),
            absent: &["2026", "888888"],
        },
        Case {
            name: "text only, code written with a space",
            subject: Some("Your Zeta sign-in code"),
            text: Some(
                "Your Zeta verification code is 123 456.\n\nIt expires at 10:30 UTC. If you \
                 didn't try to sign in, you can ignore this email.\n",
            ),
            html: None,
            best: Some("123456"),
            absent: &["1030"],
        },
        Case {
            name: "code written with a dash",
            subject: Some("Login code for Parcelly"),
            text: Some("Hi,\n\nYour login code: 583-201\n\nParcelly\n"),
            html: None,
            best: Some("583201"),
            absent: &[],
        },
        Case {
            name: "four-digit pin and copyright footer",
            subject: Some("Your card PIN"),
            text: Some(
                "Hello Alex,\n\nYour PIN is 4821. Never share it with anyone, not even with us.\n\n\
                 (c) 2026 Cardly Ltd.\n",
            ),
            html: None,
            best: Some("4821"),
            absent: &["2026"],
        },
        Case {
            name: "eight-digit passcode and international phone number",
            subject: Some("One-time passcode"),
            text: Some(
                "Use 83920174 as your one-time passcode for Bank of Example online banking.\n\n\
                 Questions? Customer service: +1 415 555 0100 (24/7).\n",
            ),
            html: None,
            best: Some("83920174"),
            absent: &["4155550100", "5550100", "0100"],
        },
        Case {
            name: "alphanumeric code",
            subject: Some("Verify your Tessera account"),
            text: Some("Welcome to Tessera!\n\nYour verification code is X7K9P2\n"),
            html: Some(
                "<p>Welcome to Tessera!</p><p>Your verification code is <b>X7K9P2</b></p>",
            ),
            best: Some("X7K9P2"),
            absent: &[],
        },
        Case {
            name: "alphanumeric recovery code with a dash",
            subject: Some("Account recovery"),
            text: Some("Someone asked to recover your account.\nYour recovery code: AB12-CD34\n"),
            html: None,
            best: Some("AB12-CD34"),
            absent: &["AB12", "CD34"],
        },
        Case {
            name: "footer with copyright and street address",
            subject: Some("Your Lumen security code"),
            text: None,
            html: Some(
                r#"<p>Use the security code below to sign in.</p>
                <div style="font-size:28px;font-weight:bold">902184</div>
                <p>Lumen Inc. &middot; 548 Market St, San Francisco, CA 94104<br>
                &copy; 2026 Lumen Inc.</p>"#,
            ),
            best: Some("902184"),
            absent: &["2026", "94104"],
        },
        Case {
            name: "order number and price before the code",
            subject: Some("Confirm your payment"),
            text: Some(
                "Thanks for your order #12345678 (total $49.99).\nTo confirm your payment, \
                 enter the security code 904417 on the checkout page.\n",
            ),
            html: None,
            best: Some("904417"),
            absent: &["12345678", "4999", "49"],
        },
        Case {
            name: "german, invoice number and euro price",
            subject: Some("Bitte bestätigen Sie Ihre Zahlung"),
            text: Some(
                "Guten Tag,\n\nfür die Rechnung 2026-0042 über 49,99 € benötigen wir eine \
                 Bestätigung.\nIhr Bestätigungscode lautet: 318274\n\nMit freundlichen Grüßen\n",
            ),
            html: None,
            best: Some("318274"),
            absent: &["20260042", "2026", "0042", "4999"],
        },
        Case {
            name: "phone numbers around the code",
            subject: Some("Your Telia verification code"),
            text: Some(
                "Your verification code: 772914\n\nNeed help? Call (415) 555-0100 or \
                 0800 123 4567, Mon-Fri.\n",
            ),
            html: None,
            best: Some("772914"),
            absent: &["4155550100", "5550100", "08001234567", "1234567", "4567"],
        },
        Case {
            name: "dates and times next to the code",
            subject: Some("New sign-in to your account"),
            text: Some(
                "We noticed a sign-in on 2026-11-28 at 10:30:15 (28.11.2026, 11/28/2026).\n\
                 To confirm it was you, enter this code: 650318\n",
            ),
            html: None,
            best: Some("650318"),
            absent: &["20261128", "2026", "28112026", "11282026", "103015"],
        },
        Case {
            name: "password reset with a link only",
            subject: Some("Reset your password"),
            text: Some(
                "Hi Jordan,\n\nSomeone requested a password reset for your Quarry account.\n\
                 Reset it here: https://quarry.example/reset?token=8f3a91c2&uid=4821\n\n\
                 This link expires in 24 hours. If you didn't ask, ignore this email.\n\n\
                 © 2026 Quarry\n",
            ),
            html: Some(
                r#"<p>Hi Jordan,</p><p>Someone requested a password reset for your Quarry
                account.</p><p><a href="https://quarry.example/reset?token=8f3a91c2&amp;uid=4821"
                style="background:#0055ff;color:#ffffff;padding:12px">Reset password</a></p>
                <p>This link expires in 24 hours.</p><p>&copy; 2026 Quarry</p>"#,
            ),
            best: None,
            absent: &["4821", "2026"],
        },
        Case {
            name: "newsletter without a code",
            subject: Some("Spring sale: 30% off everything"),
            text: None,
            html: Some(
                r#"<h1>Spring sale!</h1><p>Take <strong>30% off</strong> everything until
                31.03.2026. Use promo code <b>SPRING30</b> at checkout, or code
                <b>WELCOME10</b> for your first order.</p>
                <p>Free shipping on orders over $50. Questions? Call 0800 123 4567.</p>
                <p>Acme Outdoor GmbH, Hauptstraße 5, 10115 Berlin</p>
                <p>&copy; 2026 Acme Outdoor &middot; <a href="https://acme.example/unsubscribe">Unsubscribe</a></p>"#,
            ),
            best: None,
            absent: &[],
        },
        Case {
            name: "code in the subject only",
            subject: Some("Your Tixly code is 582046"),
            text: Some(
                "Hi!\n\nUse the code in the subject line to finish signing in. It expires in \
                 15 minutes.\n",
            ),
            html: None,
            best: Some("582046"),
            absent: &[],
        },
        Case {
            name: "emphasized code after another number in running text",
            subject: Some("Approve sign-in"),
            text: None,
            html: Some(
                r#"<p>Hi Sam, sign-in request 48213 from Chrome on Windows needs approval. Please
                confirm it with the code below.</p><p><strong>926051</strong></p>
                <p>If this wasn't you, change your password.</p>"#,
            ),
            best: Some("926051"),
            absent: &[],
        },
        Case {
            name: "german html only, spaced code in a heading, customer number",
            subject: Some("Ihr Sicherheitscode"),
            text: None,
            html: Some(
                r#"<p>Hallo Frau Weber,</p><p>Kundennummer: 10045872</p>
                <p>Ihr Sicherheitscode für die Anmeldung:</p><h2>482&nbsp;913</h2>
                <p>Der Code ist 10 Minuten gültig. Bei Fragen: Telefon 030 12345678</p>"#,
            ),
            best: Some("482913"),
            absent: &["10045872", "12345678", "03012345678"],
        },
        Case {
            name: "french with a no-break space before the colon",
            subject: Some("Votre code de vérification"),
            text: Some(
                "Bonjour,\n\nVotre code de vérification est\u{a0}: 274 815\n\nCe code expire \
                 dans 10 minutes.\nCommande n° 45821 – montant 129,90 €\n",
            ),
            html: None,
            best: Some("274815"),
            absent: &["45821", "12990"],
        },
        Case {
            name: "spanish with an order and a price",
            subject: Some("Tu código de verificación"),
            text: Some(
                "Hola,\n\nTu código de verificación es 604213.\nPedido 98765 por 1.299,00 € \
                 confirmado el 28/11/2026.\n",
            ),
            html: None,
            best: Some("604213"),
            absent: &["98765", "129900", "2026"],
        },
        Case {
            name: "portuguese html only with a price in reais",
            subject: Some("Código de verificação"),
            text: None,
            html: Some(
                r#"<p>Olá!</p><p>Seu código de verificação é:</p><p><b>315 902</b></p>
                <p>Valor da compra: R$ 1.250,00</p>"#,
            ),
            best: Some("315902"),
            absent: &["125000", "1250"],
        },
        Case {
            name: "japanese with a date and a phone number",
            subject: Some("【Sakura】認証コードのお知らせ"),
            text: Some(
                "いつもご利用ありがとうございます。\n認証コードは482913です。\n\
                 このコードの有効期限は10分です。\n受付日時：2026年11月28日 10:30\n\
                 お問い合わせ：03-1234-5678\n",
            ),
            html: None,
            best: Some("482913"),
            absent: &["2026", "0312345678", "12345678"],
        },
        Case {
            name: "russian with a labelled hotline number",
            subject: Some("Код подтверждения"),
            text: Some(
                "Здравствуйте!\n\nВаш код подтверждения: 739 104.\nНикому не сообщайте этот \
                 код.\nТелефон поддержки: 8 800 555-35-35\n",
            ),
            html: None,
            best: Some("739104"),
            absent: &["88005553535", "5553535"],
        },
        Case {
            name: "italian",
            subject: Some("Il tuo codice di verifica"),
            text: Some("Ciao,\nil tuo codice di verifica è 551 204. Scade tra 5 minuti.\n"),
            html: None,
            best: Some("551204"),
            absent: &[],
        },
        Case {
            name: "dutch",
            subject: Some("Bevestig je e-mailadres"),
            text: Some(
                "Hoi,\n\nJe verificatiecode is 847120. Voer de code in op de website.\n",
            ),
            html: None,
            best: Some("847120"),
            absent: &[],
        },
        Case {
            name: "polish",
            subject: Some("Kod weryfikacyjny"),
            text: Some("Twój kod weryfikacyjny: 660913\nKod jest ważny przez 10 minut.\n"),
            html: None,
            best: Some("660913"),
            absent: &[],
        },
        Case {
            name: "chinese, code flush against the text",
            subject: Some("【云服务】验证码"),
            text: Some("【云服务】您的验证码是385027，5分钟内有效，请勿泄露。\n"),
            html: None,
            best: Some("385027"),
            absent: &[],
        },
        Case {
            name: "magic link and code",
            subject: Some("Sign in to Loom"),
            text: Some(
                "Click to sign in: https://app.loom.example/auth/magic?t=993817&u=55\n\n\
                 Or enter this code in the app: 193847\n",
            ),
            html: None,
            best: Some("193847"),
            absent: &["993817"],
        },
        Case {
            name: "hex colour and a url with digits in visible text",
            subject: Some("Verify your Canvasly email"),
            text: Some(
                "Your Canvasly verification code is 771203.\nYour theme colour #A1B2C3 was \
                 saved. Preview: https://canvasly.example/u/884422/verify\n",
            ),
            html: None,
            best: Some("771203"),
            absent: &["A1B2C3", "884422"],
        },
        Case {
            name: "digits in the recipient address",
            subject: Some("Your code"),
            text: Some(
                "We sent this message to user482913@example.com.\nYour code: 552019\n",
            ),
            html: None,
            best: Some("552019"),
            absent: &["482913"],
        },
        Case {
            name: "no keyword, standalone heading",
            subject: Some("Sign in to Quill"),
            text: None,
            html: Some(
                "<p>Hi!</p><p>Type this into the app to get going:</p><h1>602913</h1>\
                 <p>Team Quill</p>",
            ),
            best: Some("602913"),
            absent: &[],
        },
        Case {
            name: "no keyword, numbers in running text only",
            subject: Some("Your parcel is on its way"),
            text: Some(
                "Good news! Your parcel with 3 items left our warehouse. We shipped 250012 \
                 parcels this year.\n",
            ),
            html: None,
            best: None,
            absent: &[],
        },
        Case {
            name: "two-factor backup code in dashed groups",
            subject: Some("Your 2FA backup code"),
            text: Some("Your 2FA backup code: 4821-9037\nStore it somewhere safe.\n"),
            html: None,
            best: Some("48219037"),
            absent: &[],
        },
        Case {
            name: "labelled ticket number and a support pin",
            subject: Some("Re: Ticket #884201"),
            text: Some(
                "Ticket #884201: we need to verify your identity.\nYour support PIN is 5521.\n",
            ),
            html: None,
            best: Some("5521"),
            absent: &["884201"],
        },
        Case {
            name: "year-like pin labelled directly",
            subject: Some("Your new PIN"),
            text: Some("Your new PIN: 1987\n\nKeep it secret.\n\n© 2026 Cardly Ltd.\n"),
            html: None,
            best: Some("1987"),
            absent: &["2026"],
        },
        Case {
            name: "one-time password on its own line",
            subject: Some("OTP"),
            text: Some("Your one-time password:\n\n    558201\n\nValid for 5 minutes.\n"),
            html: None,
            best: Some("558201"),
            absent: &[],
        },
        Case {
            name: "four-digit security code with a masked address",
            subject: Some("Microsoft account security code"),
            text: Some(
                "Please use the following security code for the Microsoft account \
                 ab*****@example.com.\n\nSecurity code: 4729\n\nThanks,\nThe Microsoft account team\n",
            ),
            html: None,
            best: Some("4729"),
            absent: &[],
        },
        Case {
            name: "prefixed code in the subject",
            subject: Some("G-482913 is your Google verification code"),
            text: None,
            html: Some(
                r#"<div><p>Google</p><p>Use this code to finish setting up 2-Step Verification:</p>
                <div style="font-size:32px;line-height:40px">482913</div>
                <p>This code will expire in 10 minutes.</p></div>"#,
            ),
            best: Some("482913"),
            absent: &[],
        },
        Case {
            name: "uk postcode in the footer",
            subject: Some("Your Monzi login code"),
            text: Some(
                "Your login code is 902184.\n\nMonzi Ltd, 1 High Street, London SW1A 1AA\n",
            ),
            html: None,
            best: Some("902184"),
            absent: &["SW1A"],
        },
        Case {
            name: "price in dollars near the code",
            subject: Some("Confirm your transfer"),
            text: Some("Confirm your transfer of USD 1000 with code 310574.\n"),
            html: None,
            best: Some("310574"),
            absent: &["1000"],
        },
        Case {
            name: "hidden preheader and a table layout",
            subject: Some("Welcome to Orbit"),
            text: None,
            html: Some(
                r#"<div style="display:none;max-height:0">Order 555111 shipped&zwnj;&nbsp;&zwnj;</div>
                <table><tr><td>Your Orbit verification code</td></tr>
                <tr><td style="font-size:30px"><b>3&#8203;8&#8203;1&#8203;7&#8203;2&#8203;9</b></td></tr>
                <tr><td>Booking 12-34 is unrelated.</td></tr></table>"#,
            ),
            best: Some("381729"),
            absent: &["555111", "1234"],
        },
        Case {
            name: "letters-first dash code",
            subject: Some("Slackish confirmation code: XKR-N7Q"),
            text: Some(
                "Confirm your email address

Your confirmation code is below - enter it in                  your open browser window and we'll help you get signed in.

XKR-N7Q
",
            ),
            html: None,
            best: Some("XKR-N7Q"),
            absent: &[],
        },
        Case {
            name: "receipt with confirmation wording but no code",
            subject: Some("Payment confirmed"),
            text: Some(
                "Payment confirmed
Transaction ID 88331122
Amount: 49.99 EUR
                 Date: 2026-11-28 10:30
Card: **** 4242
",
            ),
            html: None,
            best: None,
            absent: &[],
        },
        Case {
            name: "order confirmation without a code",
            subject: Some("Your order has been confirmed"),
            text: None,
            html: Some(
                r#"<h2>Thanks, your order has been confirmed.</h2>
                <p>Order number: <b>112-3456789-1234567</b></p>
                <p>Arriving Friday, November 28, 2026</p>
                <p>Paid with Visa ending in 4242</p>"#,
            ),
            best: None,
            absent: &[],
        },
        Case {
            name: "password changed notification without a code",
            subject: Some("Your password was changed"),
            text: Some(
                "Your password was changed on November 28, 2026 at 10:30 from IP 203.0.113.45                  (Device ID: 4F3A9B21).
If this wasn't you, reset your password at                  https://acme.example/reset
",
            ),
            html: None,
            best: None,
            absent: &[],
        },
        Case {
            name: "code before the keyword in a heading",
            subject: Some("Welcome to Acme"),
            text: None,
            html: Some(
                "<h1>829113</h1><p>is your Acme verification code. It expires in 10 minutes.</p>",
            ),
            best: Some("829113"),
            absent: &[],
        },
        Case {
            name: "sms-style, keyword after the code",
            subject: None,
            text: Some("829113 is your Instagram code. Don't share it.
"),
            html: None,
            best: Some("829113"),
            absent: &[],
        },
        Case {
            name: "five-character alphanumeric guard code",
            subject: Some("Your Steam account: Access from new computer"),
            text: Some(
                "Dear gabe,

Here is the Steam Guard code you need to login to account gabe:

                 F4K2X

This email was generated because of a login attempt from a web or                  mobile device located at 203.0.113.45 (DE).
",
            ),
            html: None,
            best: Some("F4K2X"),
            absent: &[],
        },
        Case {
            name: "pin announced by the subject only",
            subject: Some("Your Cardly PIN"),
            text: Some("Hello,\n\nhere is what you asked for:\n\n7305\n\nCardly\n"),
            html: None,
            best: Some("7305"),
            absent: &[],
        },
        Case {
            name: "grouped code followed by words",
            subject: Some("Sign in to Acme"),
            text: Some("482 913 is your Acme login code. It expires in 10 minutes.\n"),
            html: None,
            best: Some("482913"),
            absent: &["482", "913"],
        },
        Case {
            name: "eight digits in two groups mid-sentence",
            subject: Some("Pair your TV"),
            text: Some("To pair your TV, enter code 9090 1212 in the app within 5 minutes.\n"),
            html: None,
            best: Some("90901212"),
            absent: &["9090", "1212"],
        },
        Case {
            name: "bank transfer with an iban",
            subject: Some("Confirm your transfer"),
            text: Some(
                "Please confirm the transfer to DE89 3704 0044 0532 0130 00 with the code \
                 882211.\n",
            ),
            html: None,
            best: Some("882211"),
            absent: &["0130", "3704", "0044", "0532"],
        },
        Case {
            name: "korean",
            subject: Some("[Web발신]"),
            text: Some("[Web발신]\n인증번호 [482913]를 입력해 주세요.\n"),
            html: None,
            best: Some("482913"),
            absent: &[],
        },
    ];

    fn found_codes(case: &Case, sanitizer: &Sanitizer) -> Vec<String> {
        let html = case.html.map(|html| sanitizer.clean(html));
        codes(case.subject, case.text, html.as_deref())
    }

    #[test]
    fn reset_link_is_found_once_with_its_text() {
        let case = CORPUS
            .iter()
            .find(|case| case.name == "password reset with a link only")
            .expect("corpus case");
        let html = case.html.map(|html| Sanitizer::default().clean(html));
        assert_eq!(
            links(html.as_deref(), case.text),
            [Link {
                href: "https://quarry.example/reset?token=8f3a91c2&uid=4821".to_owned(),
                text: Some("Reset password".to_owned()),
            }]
        );
    }

    #[test]
    fn corpus_best_codes_and_exclusions() {
        assert!(CORPUS.len() >= 30);
        let sanitizer = Sanitizer::default();
        let mut failures = Vec::new();
        for case in CORPUS {
            let found = found_codes(case, &sanitizer);
            let best = found.first().map(String::as_str);
            match case.best {
                Some(expected) if best != Some(expected) => {
                    failures.push(format!("{}: expected {expected}, got {found:?}", case.name));
                }
                None if !found.is_empty() => {
                    failures.push(format!("{}: expected no code, got {found:?}", case.name));
                }
                _ => {}
            }
            for absent in case.absent {
                if found.iter().any(|code| code == absent) {
                    failures.push(format!("{}: {absent} must not be in {found:?}", case.name));
                }
            }
        }
        assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    }

    #[test]
    fn dash_joined_alphanumeric_codes_come_with_their_dash_free_form() {
        let found = codes(None, Some("Your recovery code: AB12-CD34"), None);
        assert_eq!(found, ["AB12-CD34", "AB12CD34"]);
    }

    #[test]
    fn codes_written_with_separators_come_back_as_one_code() {
        for shown in ["482 913", "482-913", "4 8 2 9 1 3", "4-8-2-9-1-3"] {
            let text = format!("Your verification code is {shown}. It expires in 10 minutes.");
            assert_eq!(
                codes(None, Some(&text), None).first(),
                Some(&"482913".to_owned()),
                "{shown}"
            );
            let alone = format!("Welcome!\n\n{shown}\n");
            assert_eq!(
                codes(Some("Your code"), Some(&alone), None).first(),
                Some(&"482913".to_owned()),
                "{shown}"
            );
        }
    }

    #[test]
    fn spaced_out_digits_that_are_not_codes_stay_out() {
        let cases = [
            // A list too long to be a code.
            "Verification code steps: 1 2 3 4 5 6 7 8 9 1 2 3 4 5 6",
            // Prices, dates, phone and order numbers with single digits around them.
            "Your code is not the price $ 1 2 3 4 nor the total 1 2 3 4 %",
            "Order number: 4 8 2 9 1 3, confirm nothing.",
            "Call us on +4 8 2 9 1 3 for your verification code.",
        ];
        for text in cases {
            assert!(
                !codes(None, Some(text), None).contains(&"482913".to_owned()),
                "{text}"
            );
            assert!(
                !codes(None, Some(text), None).contains(&"123456".to_owned()),
                "{text}"
            );
        }
        // Only three digits, or dates written with spaces, are not codes.
        assert!(codes(None, Some("Your code: 4 8 2"), None).is_empty());
        assert!(codes(None, Some("Your code arrives on 4 8 2026"), None).is_empty());
    }

    #[test]
    fn nothing_in_nothing_out() {
        assert!(codes(None, None, None).is_empty());
        assert!(links(None, None).is_empty());
        assert!(codes(Some(""), Some(""), Some("")).is_empty());
    }

    #[test]
    fn outputs_are_capped() {
        let many_codes: String = (100_000..100_100)
            .map(|number| format!("Your code: {number}\n"))
            .collect();
        assert_eq!(codes(None, Some(&many_codes), None).len(), MAX_CODES);
        let many_links: String = (0..500)
            .map(|number| format!("https://acme.example/{number} "))
            .collect();
        assert_eq!(links(None, Some(&many_links)).len(), MAX_LINKS);
    }

    /// Adversarial inputs of about 200 KB finish quickly (a quadratic pass would not).
    #[test]
    fn large_adversarial_inputs_stay_linear() {
        const SIZE: usize = 200_000;
        let inputs = [
            "1 ".repeat(SIZE / 2),
            "1-".repeat(SIZE / 2),
            "code 123456 ".repeat(SIZE / 12),
            "<b>".repeat(SIZE / 3),
            "</b>".repeat(SIZE / 4),
            "&".repeat(SIZE),
            "&#".repeat(SIZE / 2),
            format!("https://a.example/{}", ")".repeat(SIZE)),
            format!("<a href=\"{}", "x".repeat(SIZE)),
            "<a ".repeat(SIZE / 3),
            "<script>".repeat(SIZE / 8),
        ];
        for input in &inputs {
            assert!(codes(Some(input), Some(input), Some(input)).len() <= MAX_CODES);
            assert!(links(Some(input), Some(input)).len() <= MAX_LINKS);
        }
    }
}
