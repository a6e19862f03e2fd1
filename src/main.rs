fn main() {
    println!("helmsman");
}
