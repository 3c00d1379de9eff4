#pragma once
// MQTT topic names and topic filters (MQTT 3.1.1, 4.7): the syntax the policy's cloud
// filters must have, and the matching sekishod does on every message that crosses.

#include <string>
#include <string_view>

namespace sekisho::policy {

// A topic filter's syntax: '#' only last and alone in its level, '+' alone in its level,
// not empty, no U+0000, at most 65,535 bytes. An explanation, or empty when valid.
std::string topic_filter_error(std::string_view filter);

// A topic name's syntax (what a PUBLISH carries): not empty, no wildcard, no U+0000, at
// most 65,535 bytes. An explanation, or empty when valid.
std::string topic_name_error(std::string_view topic);

// What the local broker's ACL file cannot hold (daemon/cloud/broker_config writes one
// filter per line, and mosquitto trims the blanks around it): a control character (a line
// break would start a line of its own) or a space at either end. An explanation, or empty.
std::string broker_acl_filter_error(std::string_view filter);

// Whether `topic` matches `filter` (4.7.1, 4.7.2: a filter starting with a wildcard does
// not match a topic starting with '$'). Both are assumed valid.
bool topic_matches(std::string_view filter, std::string_view topic);

// Whether some topic name matches both filters (then a message could cross one way and
// come back the other).
bool filters_overlap(std::string_view a, std::string_view b);

}  // namespace sekisho::policy
