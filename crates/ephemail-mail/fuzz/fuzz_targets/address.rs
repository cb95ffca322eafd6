//! A valid address prints as its normalized form, which parses back to the same address:
//! addresses are stored and compared in printed form.

#![no_main]

use ephemail_mail::address::EmailAddress;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &str| {
    let Ok(address) = EmailAddress::parse(raw) else {
        return;
    };
    let printed = address.to_string();
    assert_eq!(
        EmailAddress::parse(&printed).as_ref(),
        Ok(&address),
        "{raw:?}"
    );
    let (inbox, _tag) = address.split_tag();
    assert_eq!(
        EmailAddress::parse(&inbox.to_string()),
        Ok(inbox),
        "{raw:?}"
    );
});
