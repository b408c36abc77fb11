//! Generated values can cross threads and tasks in users' crates, which use
//! the default recursion limit (the struct graph is deep enough that proving
//! `Send` structurally overflowed it for `Action`).

use ovirt::types::{Action, Fault, Vm};

fn assert_send_sync<T: Send + Sync + 'static>() {}

#[test]
fn every_generated_value_kind_is_send_and_sync() {
    assert_send_sync::<Action>();
    assert_send_sync::<Vm>();
    assert_send_sync::<ovirt::List<Vm>>();
}

#[test]
fn an_action_moves_to_another_thread_and_back_unchanged() {
    let action = Action::new()
        .r#async(true)
        .fault(Fault::new().reason("Operation Failed").detail("[x]"));
    let sent = action.clone();
    let back = std::thread::spawn(move || sent).join().expect("thread");
    assert_eq!(back, action);
}
