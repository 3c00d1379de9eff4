#include "policy/element_set.hpp"

#include <algorithm>
#include <string>

namespace sekisho::ir {

namespace {

std::string bytes_of(const Value& value) {
  return std::string(reinterpret_cast<const char*>(value.bytes.data()), value.size);
}

std::string first_key(const Element& element) {
  return bytes_of(element.key[0].lo);
}

bool pair_single(const Element& element) {
  return element.key.size() > 1 && element.key[0].single() && element.key[1].single();
}

std::string pair_key(const Element& element) {
  return bytes_of(element.key[0].lo) + bytes_of(element.key[1].lo);
}

// How wide an element is, coarsely: the number of fields that are ranges, then the width
// of the first field. Wide elements go in first, so narrow ones inside them are dropped
// instead of splitting the wide ones.
std::pair<int, Value> width(const Element& element) {
  int ranges = 0;
  for (const Range& range : element.key) {
    ranges += range.single() ? 0 : 1;
  }
  Value span;
  const Range& first = element.key.front();
  span.size = first.lo.size;
  int borrow = 0;
  for (int i = first.lo.size - 1; i >= 0; --i) {
    int digit = first.hi.bytes[static_cast<std::size_t>(i)] -
                first.lo.bytes[static_cast<std::size_t>(i)] - borrow;
    borrow = digit < 0 ? 1 : 0;
    span.bytes[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(digit + 256 * borrow);
  }
  return {ranges, span};
}

}  // namespace

Value next_value(Value value) {
  for (int i = value.size - 1; i >= 0; --i) {
    if (++value.bytes[static_cast<std::size_t>(i)] != 0) {
      break;
    }
  }
  return value;
}

Value previous_value(Value value) {
  for (int i = value.size - 1; i >= 0; --i) {
    if (value.bytes[static_cast<std::size_t>(i)]-- != 0) {
      break;
    }
  }
  return value;
}

bool overlaps(const Element& a, const Element& b) {
  for (std::size_t i = 0; i < a.key.size(); ++i) {
    if (a.key[i].hi < b.key[i].lo || b.key[i].hi < a.key[i].lo) {
      return false;
    }
  }
  return true;
}

bool contains(const Element& outer, const Element& inner) {
  for (std::size_t i = 0; i < outer.key.size(); ++i) {
    if (inner.key[i].lo < outer.key[i].lo || outer.key[i].hi < inner.key[i].hi) {
      return false;
    }
  }
  return true;
}

std::vector<std::size_t> ElementSetBuilder::candidates(const Element& element) const {
  if (!element.key.front().single()) {
    std::vector<std::size_t> all(elements_.size());
    for (std::size_t i = 0; i < all.size(); ++i) {
      all[i] = i;
    }
    return all;
  }
  std::vector<std::size_t> out = wide_;
  auto append = [&](const auto& index, const std::string& key) {
    auto it = index.find(key);
    if (it != index.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
    }
  };
  if (pair_single(element)) {
    append(first_only_, first_key(element));
    append(by_pair_, pair_key(element));
  } else {
    append(by_first_, first_key(element));
  }
  return out;
}

void ElementSetBuilder::add(Element element) {
  std::vector<Element> pending{std::move(element)};
  while (!pending.empty()) {
    Element piece = std::move(pending.back());
    pending.pop_back();
    bool dropped = false;
    for (std::size_t index : candidates(piece)) {
      if (removed_[index] || !overlaps(piece, elements_[index])) {
        continue;
      }
      const Element& existing = elements_[index];
      if (contains(existing, piece)) {
        dropped = true;
        break;
      }
      if (contains(piece, existing)) {
        removed_[index] = true;
        continue;
      }
      // Partial overlap: keep the parts of `piece` outside `existing`, field by field.
      Element rest = piece;
      for (std::size_t field = 0; field < rest.key.size(); ++field) {
        Range& range = rest.key[field];
        const Range& other = existing.key[field];
        if (range.lo < other.lo) {
          Element below = rest;
          below.key[field].hi = previous_value(other.lo);
          pending.push_back(std::move(below));
          range.lo = other.lo;
        }
        if (other.hi < range.hi) {
          Element above = rest;
          above.key[field].lo = next_value(other.hi);
          pending.push_back(std::move(above));
          range.hi = other.hi;
        }
      }
      dropped = true;  // what remains of `rest` lies inside `existing`
      break;
    }
    if (!dropped) {
      insert(std::move(piece));
    }
  }
}

void ElementSetBuilder::insert(Element element) {
  std::size_t index = elements_.size();
  if (!element.key.front().single()) {
    wide_.push_back(index);
  } else {
    by_first_[first_key(element)].push_back(index);
    if (pair_single(element)) {
      by_pair_[pair_key(element)].push_back(index);
    } else {
      first_only_[first_key(element)].push_back(index);
    }
  }
  elements_.push_back(std::move(element));
  removed_.push_back(false);
}

void ElementSetBuilder::add_all(std::vector<Element> elements) {
  std::vector<std::pair<std::pair<int, Value>, std::size_t>> order;
  order.reserve(elements.size());
  for (std::size_t i = 0; i < elements.size(); ++i) {
    order.emplace_back(width(elements[i]), i);
  }
  // Widest first; equal widths keep their order (stable output).
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  for (const auto& [key, index] : order) {
    add(std::move(elements[index]));
  }
}

std::vector<Element> ElementSetBuilder::take() {
  std::vector<Element> out;
  out.reserve(elements_.size());
  for (std::size_t i = 0; i < elements_.size(); ++i) {
    if (!removed_[i]) {
      out.push_back(std::move(elements_[i]));
    }
  }
  std::sort(out.begin(), out.end(),
            [](const Element& a, const Element& b) { return a.key < b.key; });
  elements_.clear();
  removed_.clear();
  wide_.clear();
  by_first_.clear();
  first_only_.clear();
  by_pair_.clear();
  return out;
}

}  // namespace sekisho::ir
