//! The cockpit's pure layer: the model (`Cockpit`), the key table, the
//! theme and the views. The terminal loop and the wiring to the engine live
//! in the shell; nothing here does IO.

pub mod components;
pub mod env_checks;
pub mod keymap;
pub mod migrations;
pub mod model;
pub mod scroll;
pub mod theme;
pub mod view;

pub use env_checks::EnvChecks;
pub use migrations::MigrationsInfo;
pub use model::{Action, Cockpit, EnvInfo, HeaderInfo, ServiceInfo, StartRequest};
pub use theme::Theme;
pub use view::render;
