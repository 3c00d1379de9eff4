#include "policy/element_set.hpp"

#include <random>

#include <doctest/doctest.h>

using namespace sekisho::ir;

namespace {

Range r(std::uint64_t lo, std::uint64_t hi) {
  return Range{value_of_number(lo, 2), value_of_number(hi, 2)};
}

Element box(std::uint64_t a_lo, std::uint64_t a_hi, std::uint64_t b_lo, std::uint64_t b_hi) {
  return Element{{r(a_lo, a_hi), r(b_lo, b_hi)}, {}, {}, {}, 0};
}

bool covered(const std::vector<Element>& elements, std::uint64_t a, std::uint64_t b) {
  for (const Element& e : elements) {
    if (e.key[0].contains(value_of_number(a, 2)) && e.key[1].contains(value_of_number(b, 2))) {
      return true;
    }
  }
  return false;
}

void require_disjoint(const std::vector<Element>& elements) {
  for (std::size_t i = 0; i < elements.size(); ++i) {
    for (std::size_t j = i + 1; j < elements.size(); ++j) {
      REQUIRE_FALSE(overlaps(elements[i], elements[j]));
    }
  }
}

}  // namespace

TEST_CASE("an element inside another is dropped, either order") {
  for (bool wide_first : {true, false}) {
    ElementSetBuilder builder;
    if (wide_first) {
      builder.add(box(0, 100, 0, 100));
      builder.add(box(10, 20, 10, 20));
    } else {
      builder.add(box(10, 20, 10, 20));
      builder.add(box(0, 100, 0, 100));
    }
    auto elements = builder.take();
    REQUIRE(elements.size() == 1);
    CHECK(elements[0].key[0] == r(0, 100));
  }
}

TEST_CASE("exact duplicates collapse") {
  ElementSetBuilder builder;
  builder.add(box(5, 5, 7, 7));
  builder.add(box(5, 5, 7, 7));
  CHECK(builder.take().size() == 1);
}

TEST_CASE("partial overlaps split into disjoint pieces covering the same points") {
  std::mt19937 random(7);
  for (int round = 0; round < 50; ++round) {
    std::vector<Element> input;
    for (int i = 0; i < 12; ++i) {
      std::uint64_t a = random() % 40, b = random() % 40;
      std::uint64_t c = random() % 40, d = random() % 40;
      input.push_back(box(std::min(a, b), std::max(a, b), std::min(c, d), std::max(c, d)));
    }
    ElementSetBuilder builder;
    builder.add_all(input);
    auto output = builder.take();
    require_disjoint(output);
    for (std::uint64_t a = 0; a < 40; ++a) {
      for (std::uint64_t b = 0; b < 40; ++b) {
        REQUIRE(covered(input, a, b) == covered(output, a, b));
      }
    }
  }
}

TEST_CASE("value arithmetic carries across bytes") {
  CHECK(next_value(value_of_number(0x00FF, 2)) == value_of_number(0x0100, 2));
  CHECK(previous_value(value_of_number(0x0100, 2)) == value_of_number(0x00FF, 2));
}
