#include "policy/element_set.hpp"

#include <algorithm>
#include <string>

namespace sekisho::ir {

namespace {

std::string first_key(const Element& element) {
  const Value& value = element.key.front().lo;
  return std::string(reinterpret_cast<const char*>(value.bytes.data()), value.size);
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
  auto it = by_first_.find(first_key(element));
  if (it != by_first_.end()) {
    out.insert(out.end(), it->second.begin(), it->second.end());
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
  if (element.key.front().single()) {
    by_first_[first_key(element)].push_back(index);
  } else {
    wide_.push_back(index);
  }
  elements_.push_back(std::move(element));
  removed_.push_back(false);
}

void ElementSetBuilder::add_all(std::vector<Element> elements) {
  std::stable_sort(elements.begin(), elements.end(),
                   [](const Element& a, const Element& b) { return width(a) > width(b); });
  for (Element& element : elements) {
    add(std::move(element));
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
  by_first_.clear();
  wide_.clear();
  return out;
}

}  // namespace sekisho::ir
