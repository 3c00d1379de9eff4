// Boost.Asio compiled once, here (BOOST_ASIO_SEPARATE_COMPILATION): every other file
// includes only its headers.
#include <boost/asio/impl/src.hpp>
