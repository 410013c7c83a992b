//! Writes `org/recorder.yaml`, the organization's template, from `template.yaml`
//! (recorder_tests::org): `org-template` writes it, `org-template --check` fails if it is stale.

use recorder_tests::org;
use recorder_tests::template::{read_repo_file, repo_file};

fn main() {
    let check = std::env::args().nth(1).as_deref() == Some("--check");
    let made = org::template(&read_repo_file("template.yaml")).unwrap_or_else(|message| {
        eprintln!("cannot make {}: {message}", org::PATH);
        std::process::exit(1);
    });
    let path = repo_file(org::PATH);
    if check {
        if std::fs::read_to_string(&path).ok().as_deref() != Some(made.as_str()) {
            eprintln!("{} is not what template.yaml makes: run make org-template", org::PATH);
            std::process::exit(1);
        }
        return;
    }
    std::fs::write(&path, made).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    println!("wrote {}", org::PATH);
}
