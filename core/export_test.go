package core

// DialLocalhost exposes dialLocalhost to the tests of package core_test.
var DialLocalhost = dialLocalhost
