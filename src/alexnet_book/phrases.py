"""Short phrases that depend on a page's numbers, for the sentences around them in the page's markdown.

A verdict computed from numbers belongs in a small tested function that returns a few words; the sentence it
completes stays in the page's prose (and in a translation of it).
"""

from __future__ import annotations

from alexnet_book.profiles import PAPER_BATCH_SIZE, PAPER_LEARNING_RATE


def crossover_phrase(batch: float | None) -> str:
    """`distribution.crossover_batch`'s answer in words: "about 98 images", or "no batch size" where the lines do
    not cross."""
    return "no batch size" if batch is None else f"about {batch:,.0f} images"


def more_or_less(a: float, b: float) -> str:
    """How a compares with b, for "a sends ... b": "more than", "less than" or "as much as"."""
    return "more than" if a > b else "less than" if a < b else "as much as"


def describe_devices(devices) -> str:
    """What the mesh's devices are ("cpu:0", "gpu:1", as Keras names them): "two virtual CPU devices that share
    one CPU's cores", "two GPUs", "two TPUs"."""
    kinds = {name.split(":")[0] for name in devices}
    count = {1: "one", 2: "two", 4: "four", 8: "eight"}.get(len(devices), str(len(devices)))
    if kinds == {"cpu"}:
        return f"{count} virtual CPU devices that share one CPU's cores"
    return f"{count} {'/'.join(sorted(kinds)).upper()}s"


def timing_caveat(devices) -> str:
    """What a step time measured on `devices` can say: on CPU devices, which share one processor, it compares the
    programs' overheads (copies, work done twice), not what separate accelerators would gain."""
    if all(name.startswith("cpu") for name in devices):
        return "the times compare the programs' overheads on one processor, not what two GPUs would gain"
    return "the times include the transfers between them"


def race_verdict(relu_epochs: int | None, tanh_epochs: int | None) -> str:
    """Chapter 4's race in words, from the epochs each activation took to the finishing line (None: never)."""
    if relu_epochs and tanh_epochs:
        if relu_epochs == tanh_epochs:
            return "both got there in the same epoch"
        return "ReLU got there first" if relu_epochs < tanh_epochs else "tanh got there first"
    if relu_epochs or tanh_epochs:
        return "only ReLU got there" if relu_epochs else "only tanh got there"
    return "neither got there"


def epochs_ratio(slower: int | None, faster: int | None) -> str:
    """A ratio of epochs for a sentence ("2.0"), or why there is none ("not measurable in this run")."""
    return f"{slower / faster:.1f}" if slower and faster else "not measurable in this run"


def reached(epochs_to_target: int | None, epochs: int) -> str:
    """Whether a run reached its target: "reached it in 3 epochs", "had not reached it after 8 epochs"."""
    if epochs_to_target:
        return f"reached it in {epochs_to_target} epoch{'s' if epochs_to_target != 1 else ''}"
    return f"had not reached it after {epochs} epoch{'s' if epochs != 1 else ''}"


def times_divided(count: int) -> str:
    """How often a learning rate was divided: "never divided", "divided once", "divided twice", "divided 3 times"."""
    return {0: "never divided", 1: "divided once", 2: "divided twice"}.get(count, f"divided {count} times")


def recipe_phrase(recipe, batch_size: int, augment: bool) -> str:
    """How a training run relates to the paper's recipe: "with the paper's recipe" where its rate, batch and
    augmentation are the paper's, else what it keeps and what it changes."""
    if recipe.learning_rate == PAPER_LEARNING_RATE and batch_size == PAPER_BATCH_SIZE and augment:
        return "with the paper's recipe"
    return (
        "with the paper's optimizer, weight decay and schedule, but a smaller starting rate and batch and no "
        "augmentation (the short profiles' changes, below)"
        if not augment
        else "with the paper's optimizer, weight decay, schedule and augmentation, but another rate or batch"
    )


def smoothing_verdict(trained: float, fresh: float) -> str:
    """What the neighbour correlation of trained conv1 kernels against freshly initialised ones says."""
    gain = trained - fresh
    if gain > 0.3:
        return "training has replaced the initial noise with smooth patterns"
    if gain > 0.05:
        return "training has begun to smooth the initial noise"
    return "training has hardly changed the initial noise"


def neighbour_verdict(fc7_agreement: float, pixel_agreement: float) -> str:
    """How fc7's nearest neighbours compare with the pixels' at sharing a query's class."""
    gain = fc7_agreement - pixel_agreement
    if gain > 0.15:
        return "fc7 groups images by class much better than their pixels do"
    if gain > 0.05:
        return "fc7 groups images by class better than their pixels do"
    if gain > -0.05:
        return "fc7 groups images by class about as well as their pixels do; this model has learnt little beyond them"
    return "the pixels group images by class better than fc7 does; this model has not learnt a useful fc7 yet"


def precision_verdict(policy: str, float32_rate: float, bfloat16_rate: float, within: float = 0.05) -> str:
    """Which precision trained faster and by how much (a ratio within `within` of 1 names no winner), and
    whether precision_policy() picks it."""
    ratio = bfloat16_rate / float32_rate
    if abs(ratio - 1) <= within:
        return (
            f"mixed_bfloat16 and float32 trained about as fast (mixed_bfloat16 at {ratio:.2f} times float32's best "
            f"rate); alexnet_book.hardware.precision_policy() picks {policy} here"
        )
    faster = "mixed_bfloat16" if ratio > 1 else "float32"
    agrees = "and it is what" if faster == policy else f"but {policy} is what"
    return (
        f"{faster} trained faster (bfloat16 at {ratio:.2f} times float32's best rate), {agrees} "
        "alexnet_book.hardware.precision_policy() picks here"
    )


def recorded_rate_phrase(rate: float | None, yardstick: float) -> str:
    """A recorded training rate and its share of the yardstick, or "none yet" where the record has none."""
    return "none yet" if rate is None else f"{rate:,.0f} images per second, {rate / yardstick:.0%} of the yardstick"


def pipeline_phrase(pipes: dict | None, backend: str, gpu_rate: float) -> str:
    """Chapter 9's sentence start on the input pipelines: what they delivered here against what a GPU trains on
    (pipeline.compare_pipelines's figures), or, off TensorFlow, that they were not timed."""
    if pipes is None:
        return (
            f"This page ran on the {backend} backend, so the tf.data pipelines were not timed (chapter 5 and this "
            "chapter time them on TensorFlow), but the conclusion does not depend on it:"
        )
    return (
        f"On this machine the post's pipeline delivered {pipes['post_images_per_second']:,.0f} images per second "
        f"({pipes['post_megabytes_per_second']:,.0f} MB/s to copy to a device), and uint8 batches "
        f"{pipes['uint8_images_per_second']:,.0f}. Fed by the post's pipeline on a host like this one, the GPU above "
        f"would get {pipes['post_images_per_second'] / gpu_rate:.0%} of the images it can train on;"
    )


def training_gap(gap: float) -> str:
    """Training minus validation accuracy in words, whatever its sign: "training accuracy 3.2 points higher"."""
    points = gap * 100
    if abs(points) < 0.05:
        return "training accuracy the same"
    return f"training accuracy {abs(points):.1f} points {'higher' if points > 0 else 'lower'}"


def difference_verdict(first: str, second: str, first_accuracy: float, second_accuracy: float, noise: float) -> str:
    """Two runs' accuracies compared against the noise that chance alone puts on such an accuracy."""
    points, noise_points = (first_accuracy - second_accuracy) * 100, noise * 100
    if abs(points) <= noise_points:
        return (
            f"they differ by {abs(points):.1f} points, within the {noise_points:.1f} points that chance alone moves "
            "an accuracy on these images: no winner"
        )
    return (
        f"they differ by {abs(points):.1f} points in favour of {first if points > 0 else second}, more than the "
        f"{noise_points:.1f} points that chance alone moves an accuracy on these images"
    )


def pipeline_comparison(rates: dict | None, backend: str) -> str:
    """Chapter 5's sentences on its two timed pipelines (pipeline.compare_pipelines's figures), or, off
    TensorFlow, that they were not timed."""
    if rates is None:
        return (
            f"This page ran on the {backend} backend, so the two tf.data pipelines were not timed (run it on "
            "TensorFlow to see their rates). On a CPU-only machine they would not limit training anyway, because the "
            "network itself is far slower."
        )
    return (
        f"Over {rates['images']:,} training images, the post's pipeline delivered "
        f"{rates['post_images_per_second']:,.0f} images per second on this machine, and uint8 batches "
        f"{rates['uint8_images_per_second']:,.0f}: about {rates['speedup']:,.0f} times as many. On a CPU-only machine "
        "neither number limits training, because the network itself is far slower."
    )


def pipeline_push(rates: dict | None) -> str:
    """What the post's pipeline has to push to a GPU, with this machine's rate where it was timed."""
    if rates is None:
        return "the images on the host"
    return (
        f"images (here {rates['post_images_per_second']:,.0f} a second, "
        f"{rates['post_megabytes_per_second']:,.0f} MB a second to push across to the GPU)"
    )


def cell_time(reused: bool, seconds: float) -> str:
    """How long chapter 6's training cell took, or that it found the run finished and trained nothing."""
    if reused:
        return "this time the cell found the run finished in its folder and trained nothing"
    return f"the whole cell took {seconds:,.0f} seconds"


def tensorflow_op_check(backend: str) -> str:
    """Chapter 3's aside on its LRN check: on the TensorFlow backend the page compared the book's layer with
    TensorFlow's own op; on any other backend that op is missing and the comparison was skipped."""
    if backend == "tensorflow":
        return (
            "TensorFlow's own op, run on this page, gives the same values, with its defaults and with the paper's "
            "constants"
        )
    return f"this page ran on the {backend} backend, so the comparison with TensorFlow's own op was skipped"


def roughly_as_much(a: float, b: float, within: float = 0.01) -> str:
    """How a compares with b when a difference of up to `within` of b is no difference worth a word: "about as much
    as", "more than" or "less than" (chapter 10 compares two programs' bytes this way)."""
    if abs(a - b) <= within * abs(b):
        return "about as much as"
    return "more than" if a > b else "less than"


def leader_phrase(accuracies: dict, noise: float) -> str:
    """Which of several runs scored highest (accuracies: name -> accuracy) and its lead over each other run, every
    lead judged against `noise`, e.g. "no normalization scored highest, 3.0 points above BatchNormalization (within
    the 4.5 points of noise) and 5.2 points above LRN (beyond them)"."""
    if len(accuracies) < 2:
        raise ValueError(f"a leader needs at least two runs to compare, got {len(accuracies)}.")
    ranked = sorted(accuracies.items(), key=lambda item: item[1], reverse=True)
    leader, top = ranked[0]
    leads = [(name, (top - accuracy) * 100) for name, accuracy in ranked[1:]]
    noise_points = noise * 100
    if all(lead <= noise_points for _, lead in leads):
        return (
            f"{leader} scored highest, but at most {leads[-1][1]:.1f} points above the others, within the "
            f"{noise_points:.1f} points of noise: no winner"
        )
    judged = [
        f"{lead:.1f} points above {name} ({'beyond' if lead > noise_points else 'within'} "
        + (f"the {noise_points:.1f} points of noise)" if number == 0 else "them)")
        for number, (name, lead) in enumerate(leads)
    ]
    listed = judged[0] if len(judged) == 1 else ", ".join(judged[:-1]) + " and " + judged[-1]
    return f"{leader} scored highest, {listed}"


def dropout_verdict(off_accuracy: float, on_accuracy: float, off_gap: float, noise: float) -> str:
    """What a short run says about dropout, from the validation accuracies without and with it, the gap between
    training and validation accuracy of the run without it, and the noise on such numbers."""
    memorizing = off_gap > noise
    if on_accuracy - off_accuracy > noise:
        return "dropout already pays off in a run this short"
    if off_accuracy - on_accuracy > noise:
        if memorizing:
            return (
                "the network without dropout had begun to memorize its training images, yet in a run this short "
                "dropout cost more by slowing learning than it saved by holding memorization back"
            )
        return "the network without dropout had not begun to memorize yet, so dropout only slowed its learning"
    if memorizing:
        return (
            "the network without dropout had begun to memorize its training images, but dropout's effect on the "
            "validation accuracy is within the noise of a run this short"
        )
    return "dropout's effect is within the noise of a run this short"


def lrn_passes(precision: str) -> str:
    """The passes the book's LRN layer makes over its input, forward and backward, under a dtype policy (it
    computes in float32 whatever the policy, so a mixed policy adds a conversion each way)."""
    passes = "a square, the band-matrix product, a power and a product"
    if "mixed" in precision:
        return f"{passes}, and a conversion to float32 and back, since it computes in float32 under {precision}"
    return passes


def class_count_range(counts) -> str:
    """The number of images per class in words: "5,000" where every class has as many, else "between 435 and 489"."""
    low, high = int(min(counts)), int(max(counts))
    return f"{low:,}" if low == high else f"between {low:,} and {high:,}"


def class_share_range(counts) -> str:
    """Each class's share of the images: "10.0%" where they are equal, else "9.3% to 10.5%"."""
    total = sum(counts)
    if total <= 0:
        raise ValueError("class counts must add up to at least one image.")
    low, high = min(counts) / total, max(counts) / total
    return f"{low:.1%}" if low == high else f"{low:.1%} to {high:.1%}"


def class_balance(counts) -> str:
    """What the ten classes' sizes (CIFAR-10's counts) mean for accuracy as a summary: balanced, nearly balanced
    (the largest class at most 1.25 times the smallest) or not, with what always naming the largest class would
    score."""
    total = sum(counts)
    if total <= 0:
        raise ValueError("class counts must add up to at least one image.")
    low, high = min(counts), max(counts)
    largest = high / total
    if low == high:
        return "the set is balanced, so accuracy is a fair summary and chance is one in ten"
    if high <= 1.25 * low:
        return (
            f"the set is nearly balanced (each class is between {low / total:.1%} and {largest:.1%} of it), so "
            f"accuracy is a fair summary and chance is about one in ten: always naming the largest class would score "
            f"{largest:.1%}"
        )
    return (
        f"the set is not balanced ({low / total:.1%} to {largest:.1%} per class), so accuracy flatters a network that "
        f"favours the large classes: always naming the largest class already scores {largest:.1%}"
    )
