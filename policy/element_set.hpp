#pragma once
// Builds the elements of one interval set so that no two overlap.
//
// The kernel's concatenated-interval backend (pipapo) refuses an element whose start or
// end falls inside another element, and exact duplicates fail the batch. Rules overlap
// all the time (a zone-wide rule and a host rule inside it), so the compiler adds every
// element here: an element inside an existing one is dropped, an existing element inside
// a new one is replaced, and a partial overlap is split into pieces that cover the same
// packets. The union of what the set matches never changes.

#include <cstddef>
#include <unordered_map>
#include <vector>

#include "policy/ir.hpp"

namespace sekisho::ir {

class ElementSetBuilder {
 public:
  // Adds in an order that keeps splitting rare: call add_all() with everything, or add()
  // wide elements before narrow ones.
  void add(Element element);
  void add_all(std::vector<Element> elements);

  // The disjoint elements, sorted by key.
  std::vector<Element> take();

 private:
  std::vector<std::size_t> candidates(const Element& element) const;
  void insert(Element element);

  std::vector<Element> elements_;
  std::vector<bool> removed_;
  // Where to look for overlaps without scanning everything. Most elements are exact host
  // pairs, so they are found by their first two fields.
  std::vector<std::size_t> wide_;                                         // first field a range
  std::unordered_map<std::string, std::vector<std::size_t>> by_first_;    // first field one value
  std::unordered_map<std::string, std::vector<std::size_t>> first_only_;  // ... second a range
  std::unordered_map<std::string, std::vector<std::size_t>> by_pair_;     // first two one value
};

// Value arithmetic on big-endian bytes (no wrap: callers check for the extremes).
Value next_value(Value value);
Value previous_value(Value value);
bool overlaps(const Element& a, const Element& b);
bool contains(const Element& outer, const Element& inner);

}  // namespace sekisho::ir
