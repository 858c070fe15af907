// Doubly linked FIFO lists threaded through two plain pointers of their elements, for the
// public classes whose lists must not put a container type in their headers (a CPU
// thread's timers, a wait queue's waiters): the header holds the pointers, privately, and
// the code that links and unlinks them uses these. Nothing allocates, so a list may change
// with irqs off.
#pragma once

namespace pctx::cpu::internal {

template <class T, T* T::*kPrev, T* T::*kNext>
struct PlainList {
  // Whether `n` is on the list that starts at `head` (an element is on one list at most).
  static bool linked(const T* head, const T& n) { return n.*kPrev != nullptr || head == &n; }

  static void push_back(T*& head, T*& tail, T& n) {
    n.*kPrev = tail;
    n.*kNext = nullptr;
    if (tail != nullptr) {
      tail->*kNext = &n;
    } else {
      head = &n;
    }
    tail = &n;
  }

  static void erase(T*& head, T*& tail, T& n) {
    T* prev = n.*kPrev;
    T* next = n.*kNext;
    if (prev != nullptr) {
      prev->*kNext = next;
    } else {
      head = next;
    }
    if (next != nullptr) {
      next->*kPrev = prev;
    } else {
      tail = prev;
    }
    n.*kPrev = nullptr;
    n.*kNext = nullptr;
  }

  static T* pop_front(T*& head, T*& tail) {
    T* n = head;
    if (n != nullptr) erase(head, tail, *n);
    return n;
  }

  static void clear(T*& head, T*& tail) {
    while (pop_front(head, tail) != nullptr) {
    }
  }
};

}  // namespace pctx::cpu::internal
