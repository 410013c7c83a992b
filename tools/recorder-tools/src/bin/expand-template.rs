//! Writes template.yaml as CloudFormation will see it after the NAT Gateway alarms macro, so
//! CI can lint what is finally deployed: `expand-template OUT.json [nat-id,...]`.

use recorder_tests::template::Template;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(out) = args.next() else {
        eprintln!("usage: expand-template OUT.json [nat-0123456789abcdef0,...]");
        std::process::exit(2);
    };
    let ids = args.next().unwrap_or_else(|| "nat-0123456789abcdef0,nat-0fedcba9876543210".into());
    let ids: Vec<serde_json::Value> = ids.split(',').map(|id| id.into()).collect();
    match Template::load().expanded(&[("NatGatewayIDs", serde_json::Value::Array(ids))]) {
        Ok(expanded) => {
            let mut text = serde_json::to_string_pretty(&expanded).expect("JSON");
            text.push('\n');
            std::fs::write(&out, text).unwrap_or_else(|e| panic!("{out}: {e}"));
            println!("wrote {out}");
        }
        Err(message) => {
            eprintln!("the macro refused the template: {message}");
            std::process::exit(1);
        }
    }
}
