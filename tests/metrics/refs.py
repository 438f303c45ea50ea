"""Three images with three human captions each, for metric tests."""

REFS = {
    "dog": ["a brown dog runs across the green grass", "a dog running on a lawn",
            "the brown dog is running outside"],
    "bus": ["a red double decker bus on a city street", "a red bus drives down the road",
            "a double decker bus in the city"],
    "pizza": ["a pizza with cheese and tomatoes on a plate", "a cheese pizza sitting on a white plate",
              "a plate holding a small pizza"],
}
