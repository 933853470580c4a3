//! The classic pooling experiment (under construction).
fn main() {
    println!("wirepool demo: not written yet");
}
