//! Policy files read again and again, as a server reloads them: the rule for a file that
//! cannot be read.
//!
//! Each file counts on its own:
//! - a file that reads cleanly counts as it is now, so a change in it (a revocation in
//!   particular) takes effect whatever state the other files are in;
//! - a file that cannot be read, has a YAML syntax error, or holds a document that does not
//!   fit its type has an unknown meaning: it counts with its **last clean contents** seen by
//!   this reader, while it stays broken. A file broken since the first read has no such
//!   contents and counts with the documents that could be read (what `scopegate check` and
//!   `validate` read: a document that does not fit its type is left out, as kube-apiserver
//!   refuses that one object of a `kubectl apply`);
//! - a deleted file counts for nothing; a directory that cannot be listed keeps the last
//!   clean contents of the files it held.
//!
//! Objects that read but have semantic errors (a binding to a role that does not exist, ...)
//! are not a reason to keep old contents: they are compiled, grant nothing, and are reported
//! by the policy ([`crate::Policy::diagnostics`]).

use super::{LoadProblem, Manifests, Parsed, collect_files, file_problem, parse_documents};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The policy paths of a server, with the last clean contents of every file read, to stand in
/// for a file while it cannot be read.
///
/// Holds the text of every policy file (about the size of the files on disk): the price of
/// never dropping a team's permissions because an editor left one file half-written.
#[derive(Debug, Default)]
pub struct PolicyFiles {
    paths: Vec<PathBuf>,
    last_clean: BTreeMap<PathBuf, String>,
}

/// A file counted with its last clean contents because it cannot be read as it is now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaleFile {
    /// The file.
    pub file: PathBuf,
}

/// One read of the policy paths: what counts, and what is wrong.
#[derive(Debug, Default)]
pub struct FilesRead {
    /// The objects that count, from every file, each file as the module documentation says.
    pub manifests: Manifests,
    /// Every problem found in the files as they are now (each names its file, line, document,
    /// object and field).
    pub problems: Vec<LoadProblem>,
    /// Files that count with their last clean contents, not as they are now.
    pub stale: Vec<StaleFile>,
    /// How many files were read cleanly this time.
    pub clean_files: usize,
}

impl FilesRead {
    /// Whether every file read cleanly.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

impl PolicyFiles {
    /// A reader of `paths` (files, or directories read recursively) that has read nothing yet.
    pub fn new(paths: Vec<PathBuf>) -> Self {
        PolicyFiles {
            paths,
            last_clean: BTreeMap::new(),
        }
    }

    /// The paths read.
    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// Reads every file now; remembers the clean ones for later reads.
    pub fn read(&mut self) -> FilesRead {
        let mut files = Vec::new();
        let mut unlisted = Vec::new();
        for path in &self.paths {
            collect_files(path, true, &mut files, &mut unlisted);
        }
        let mut read = FilesRead::default();
        let mut last_clean = BTreeMap::new();
        for file in files {
            match read_file(&file) {
                FileState::Clean { parsed, text } => {
                    read.manifests.add(parsed);
                    read.clean_files += 1;
                    last_clean.insert(file.clone(), text);
                }
                FileState::Broken { readable, problems } => {
                    read.problems.extend(problems);
                    match self.last_clean.remove(&file) {
                        Some(text) => {
                            read.manifests.add(parse_documents(&text, &file).0);
                            read.stale.push(StaleFile { file: file.clone() });
                            last_clean.insert(file.clone(), text);
                        }
                        None => {
                            if let Some(parsed) = readable {
                                read.manifests.add(parsed);
                            }
                        }
                    }
                }
            }
            read.manifests.files.push(file);
        }
        // A path that cannot be listed says nothing about the files it held: they stay.
        for problem in unlisted {
            let under: Vec<PathBuf> = self
                .last_clean
                .keys()
                .filter(|f| f.starts_with(&problem.file) && !last_clean.contains_key(*f))
                .cloned()
                .collect();
            for file in under {
                if let Some(text) = self.last_clean.remove(&file) {
                    read.manifests.add(parse_documents(&text, &file).0);
                    read.stale.push(StaleFile { file: file.clone() });
                    last_clean.insert(file, text);
                }
            }
            read.problems.push(problem);
        }
        read.manifests.warn_skipped();
        self.last_clean = last_clean;
        read
    }
}

/// One file as it is now.
enum FileState {
    /// Every document read and fits its type.
    Clean { parsed: Parsed, text: String },
    /// Something could not be read: the documents that could (none if the file itself could
    /// not be read), and the problems.
    Broken {
        readable: Option<Parsed>,
        problems: Vec<LoadProblem>,
    },
}

fn read_file(file: &Path) -> FileState {
    match std::fs::read_to_string(file) {
        Ok(text) => {
            let (parsed, problems) = parse_documents(&text, file);
            if problems.is_empty() {
                FileState::Clean { parsed, text }
            } else {
                FileState::Broken {
                    readable: Some(parsed),
                    problems,
                }
            }
        }
        Err(e) => FileState::Broken {
            readable: None,
            problems: vec![file_problem(file, format!("cannot read: {e}"))],
        },
    }
}
