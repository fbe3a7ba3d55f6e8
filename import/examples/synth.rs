//! Writes synthetic users files: `cargo run --release -p muster-import --example synth -- DIR SIZES...`
fn main() {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().expect("usage: synth DIR SIZES..."));
    std::fs::create_dir_all(&dir).expect("create the folder");
    for size in args {
        let n: usize = size.parse().expect("a number of rows");
        let path = dir.join(format!("users-{n}.csv"));
        std::fs::write(&path, muster_import::synth::users_csv(n, 42)).expect("write the file");
        println!("{}", path.display());
    }
}
