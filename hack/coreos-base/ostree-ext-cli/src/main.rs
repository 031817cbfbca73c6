// The ostree-ext CLI, crate ostree-ext's own command line and nothing added:
// `ostree-ext-cli container encapsulate|image deploy|...`; installed in the image as
// /usr/libexec/libostree/ext/ostree-container it is what `ostree container commit` runs.
#[tokio::main]
async fn main() {
    if let Err(e) = ostree_ext::cli::run_from_iter(std::env::args_os()).await {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
