"""Search for a person by appearance: descriptors, cases, ranking, camera graph.

Vigil finds a person by what they look like (clothing colours, body appearance,
size), never by who they are: nothing here looks at faces or infers gender, age or
ethnicity. The size cue is "child-sized vs adult-sized" relative to other people at
the same image height on the same camera, not an age estimate.
"""
