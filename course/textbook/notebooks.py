"""Textbook solutions of the notebooks' student cells (see ``course.textbook``).

Keys are those of ``course.regions`` in the RELEASED notebook: ``cell#k`` is the k-th student
region in cell order. They are written as a student of the original assignment would: plain
Solver runs with hyperparameters found by hand, not the instructor's cells. Each one passes its
notebook's checks on the real CIFAR-10 and, with ``smoke`` sizes, in smoke mode (CI).
"""

SOLUTIONS = {
    "notebooks/FullyConnectedNets.ipynb": {
        # Training with the Solver: a TwoLayerNet to >= 50 % validation accuracy.
        "cell#1": (
            "model = TwoLayerNet(hidden_dim=100, weight_scale=1e-3, reg=0.0)\n"
            "solver = Solver(model, data, update_rule=\"sgd\", optim_config={\"learning_rate\": 2e-3},\n"
            "                lr_decay=0.8, num_epochs=smoke(10, 5), batch_size=200, print_every=500)\n"
            "solver.train()\n"
        ),
        # Overfitting 50 images with the three-layer net.
        "cell#2": (
            "weight_scale = 2e-2\n"
            "learning_rate = 1e-2\n"
        ),
        # Overfitting 50 images with the five-layer net.
        "cell#3": (
            "weight_scale = 6e-2\n"
            "learning_rate = 1e-2\n"
        ),
        # Train a good model: >= 50 % validation accuracy with a plain fully connected net.
        "cell#4": (
            "best_model = FullyConnectedNet([500, 250], reg=1e-3, weight_scale=2.5e-2)\n"
            "solver = Solver(best_model, scaled_data, update_rule=\"adam\",\n"
            "                optim_config={\"learning_rate\": 1e-3}, lr_decay=0.85,\n"
            "                num_epochs=smoke(10, 4), batch_size=200, verbose=False)\n"
            "solver.train()\n"
        ),
    },
}
