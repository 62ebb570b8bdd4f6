//! The crate's layering, checked from its source: each top-level module of `src/` may use only the
//! modules below it in [`LAYERS`] (and itself), so dependencies point one way and cycles cannot form.
//!
//! Only `crate::NAME` paths are looked at (including `use crate::{a, b::c}` groups); comments, doc
//! comments included, are ignored. String literals are kept, since attributes such as
//! `#[serde(default = "crate::config::x")]` name real dependencies inside them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The top-level modules, lowest layer first. A new module must be placed here.
const LAYERS: &[&str] = &[
    "config",
    "logging",
    "error",
    "metrics",
    "model",
    "tokens",
    "remembered",
    "clock",
    "db",
    "storage",
    "mail",
    "audit",
    "feed",
    "auth",
    "users",
    "orgs",
    "packages",
    "backup",
    "state",
    "api",
    "web",
    "app",
    "cli",
];

/// One source file: where it is (for messages), the top-level module it belongs to, and its text.
struct Source<'a> {
    file: &'a str,
    module: &'a str,
    text: &'a str,
}

/// Everything wrong with `sources` against `layers`: every `file: module -> module` edge that points
/// up (or sideways to a module outside the list), and every module that is not in the list.
fn layering_problems(sources: &[Source], layers: &[&str]) -> Vec<String> {
    let rank: BTreeMap<&str, usize> = layers.iter().enumerate().map(|(i, m)| (*m, i)).collect();
    let mut unlisted = BTreeSet::new();
    let mut edges = BTreeSet::new();
    for source in sources {
        let Some(&from) = rank.get(source.module) else {
            unlisted.insert(source.module.to_string());
            continue;
        };
        for to in crate_references(&strip_comments(source.text)) {
            if to == source.module {
                continue;
            }
            let allowed = rank.get(to.as_str()).is_some_and(|&lower| lower < from);
            if !allowed {
                edges.insert(format!("{}: {} -> {to}", source.file, source.module));
            }
        }
    }
    unlisted
        .into_iter()
        .map(|m| format!("module `{m}` is not in the layer list"))
        .chain(edges)
        .collect()
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The first path segment after every `crate::` in `code` (each name of a `crate::{…}` group).
fn crate_references(code: &str) -> BTreeSet<String> {
    const MARKER: &str = "crate::";
    let mut found = BTreeSet::new();
    let mut from = 0;
    while let Some(at) = code[from..].find(MARKER) {
        let start = from + at;
        from = start + MARKER.len();
        // `mycrate::` or `crate_x::` are other names; `$crate::` in a macro is this crate.
        if code[..start].chars().next_back().is_some_and(is_ident) {
            continue;
        }
        let rest = code[from..].trim_start();
        if let Some(group) = rest.strip_prefix('{') {
            found.extend(group_names(group));
        } else {
            let name: String = rest.chars().take_while(|c| is_ident(*c)).collect();
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

/// The names that start each item of a `use crate::{…}` group, `group` being the text after `{`.
fn group_names(group: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut depth = 1;
    let mut expecting = true;
    let mut chars = group.chars().peekable();
    while let Some(&c) = chars.peek() {
        if expecting && is_ident(c) {
            let name: String = std::iter::from_fn(|| chars.next_if(|c| is_ident(*c))).collect();
            if name != "self" {
                names.push(name);
            }
            expecting = false;
            continue;
        }
        chars.next();
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            ',' if depth == 1 => expecting = true,
            c if c.is_whitespace() => {}
            _ => expecting = false,
        }
    }
    names
}

/// `text` with its comments (line, doc and nested block comments) blanked out. String and character
/// literals are kept but read as literals, so a `//` inside `"http://…"` starts no comment.
fn strip_comments(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    while i < chars.len() {
        let c = chars[i];
        let prev_ident = i > 0 && is_ident(chars[i - 1]);
        if c == '/' && at(i + 1) == '/' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if chars[i] == '\n' {
                        out.push('\n');
                    }
                    i += 1;
                }
            }
            out.push(' ');
        } else if let Some((open, hashes)) = (!prev_ident)
            .then(|| raw_string_hashes(&chars, i))
            .flatten()
        {
            // r"…", r#"…"#, br"…": no escapes; ends at a quote followed by as many hashes.
            out.extend(&chars[i..open + 1]);
            i = open + 1;
            while i < chars.len() {
                if chars[i] == '"' && (1..=hashes).all(|k| at(i + k) == '#') {
                    out.extend(&chars[i..(i + 1 + hashes).min(chars.len())]);
                    i += 1 + hashes;
                    break;
                }
                out.push(chars[i]);
                i += 1;
            }
        } else if c == '"' {
            out.push(c);
            i += 1;
            while i < chars.len() {
                let d = chars[i];
                out.push(d);
                i += 1;
                if d == '\\' {
                    if i < chars.len() {
                        out.push(chars[i]);
                        i += 1;
                    }
                } else if d == '"' {
                    break;
                }
            }
        } else if c == '\'' && at(i + 1) == '\\' {
            // An escaped character literal: '\n', '\'', '\u{..}'.
            out.push_str("'\\");
            i += 2;
            if i < chars.len() {
                out.push(chars[i]);
                i += 1;
            }
            while i < chars.len() && chars[i] != '\'' && chars[i] != '\n' {
                out.push(chars[i]);
                i += 1;
            }
            if at(i) == '\'' {
                out.push('\'');
                i += 1;
            }
        } else if c == '\'' && at(i + 2) == '\'' {
            // A one-character literal such as '"' (a lifetime never has a quote two characters on).
            out.extend(&chars[i..i + 3]);
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// When a raw string literal starts at `i`: the index of its opening quote and its number of hashes.
fn raw_string_hashes(chars: &[char], i: usize) -> Option<(usize, usize)> {
    let mut j = i;
    if chars.get(j) == Some(&'b') || chars.get(j) == Some(&'c') {
        j += 1;
    }
    if chars.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    let hashes = chars[j..].iter().take_while(|c| **c == '#').count();
    (chars.get(j + hashes) == Some(&'"')).then_some((j + hashes, hashes))
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
}

/// The top-level module of a file, from its path under `src/`: `foo.rs` and `foo/**.rs` are `foo`.
/// The crate roots (`lib.rs`, `main.rs`) and binaries (`bin/`) belong to no module.
fn module_of(relative: &Path) -> Option<String> {
    let first = relative.components().next()?.as_os_str().to_str()?;
    if relative.components().count() == 1 {
        if first == "lib.rs" || first == "main.rs" {
            return None;
        }
        return first.strip_suffix(".rs").map(str::to_string);
    }
    (first != "bin").then(|| first.to_string())
}

#[test]
fn modules_depend_only_on_lower_layers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = root.join("src");
    let mut paths = Vec::new();
    rust_files(&src, &mut paths);
    let files: Vec<(String, String, String)> = paths
        .iter()
        .filter_map(|path| {
            let module = module_of(path.strip_prefix(&src).unwrap())?;
            let label = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            Some((label, module, std::fs::read_to_string(path).unwrap()))
        })
        .collect();
    assert!(
        files.len() >= LAYERS.len() / 2,
        "found only {} module files under {}",
        files.len(),
        src.display()
    );
    let sources: Vec<Source> = files
        .iter()
        .map(|(file, module, text)| Source { file, module, text })
        .collect();
    let problems = layering_problems(&sources, LAYERS);
    assert!(
        problems.is_empty(),
        "{} layering problem(s):\n  {}\n\nA module may use only modules before it in this list (lowest \
         first), and every top-level module must be in it:\n  {}",
        problems.len(),
        problems.join("\n  "),
        LAYERS.join(" < ")
    );
}

#[test]
fn the_checker_reports_upward_edges_and_unlisted_modules() {
    let sources = [
        // The cycle: db is below web, and web uses db.
        Source {
            file: "src/db/mod.rs",
            module: "db",
            text: "use crate::config::Config;\nuse crate::web::render;\n",
        },
        Source {
            file: "src/web/mod.rs",
            module: "web",
            text: "use crate::{\n    db::{self, users::User},\n    model,\n};\nfn f() { crate::web::g() }\n",
        },
        // Only the upward name of a group counts; `self` is the crate root.
        Source {
            file: "src/tokens.rs",
            module: "tokens",
            text: "use crate::{self, config, api::routes, error::{ApiError, Result}};",
        },
        // Comments of every kind are ignored; a `//` inside a string is not a comment.
        Source {
            file: "src/model/mod.rs",
            module: "model",
            text: "//! Uses crate::app in prose.\n/// See [`crate::cli`].\n// crate::web::x\n\
                   /* crate::api /* nested crate::state */ crate::feed */\n\
                   const URL: &str = \"http://x\"; const Q: char = '\"'; fn f<'a>() { crate::users::g() }\n",
        },
        // Other crates whose name ends in `crate` are not this crate.
        Source {
            file: "src/error.rs",
            module: "error",
            text: "use my_crate::web; use othercrate::cli; fn f() { $crate::config::x() }",
        },
        Source {
            file: "src/extra.rs",
            module: "extra",
            text: "use crate::config;",
        },
    ];
    let problems = layering_problems(&sources, LAYERS);
    assert_eq!(
        problems,
        [
            "module `extra` is not in the layer list",
            "src/db/mod.rs: db -> web",
            "src/model/mod.rs: model -> users",
            "src/tokens.rs: tokens -> api",
        ],
        "the checker must report exactly the upward edges and the unlisted module"
    );
    // Once the list places the new module and nothing points up, there is nothing to report.
    let fine = [Source {
        file: "src/web/mod.rs",
        module: "web",
        text: "use crate::{db, model::X, web};\nuse crate::config;",
    }];
    assert_eq!(layering_problems(&fine, LAYERS), Vec::<String>::new());
}
