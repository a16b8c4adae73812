//! The `invitoken` command. Everything it does is in the library (`invitoken::cli`, a thin shell
//! over [`invitoken::Engine`]): compiled there once, the engine's generic code (caches, database
//! pools, futures) is not instantiated a second time for this binary, which took about a third
//! of a clean release build.

fn main() -> std::process::ExitCode {
    invitoken::cli::main()
}
