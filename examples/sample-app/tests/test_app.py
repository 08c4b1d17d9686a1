import unittest

from counter.app import count_words
from greeter.app import greet
from notifier.app import subject


class AppTest(unittest.TestCase):
    def test_greet(self):
        self.assertIn("Ada", greet("Ada"))

    def test_count_words(self):
        self.assertEqual(count_words("one two three"), 3)

    def test_subject(self):
        self.assertIn("deployed", subject({"what": "deployed"}))


if __name__ == "__main__":
    unittest.main()
